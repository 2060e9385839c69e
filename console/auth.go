package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CookieName is the console's session cookie.
const CookieName = "ssehub_console"

// maxLoginBytes bounds the login form's body.
const maxLoginBytes = 4 << 10

// session returns a session token that expires at exp: the expiry and its
// HMAC under the operator key. Nodes with the same key accept each other's
// sessions, and changing the key ends every session.
func (c *Console) session(exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + c.mac(e)
}

func (c *Console) mac(msg string) string {
	m := hmac.New(sha256.New, []byte(c.cfg.Key))
	m.Write([]byte("ssehub console session\x00" + msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validSession reports whether tok is a session token of this key that has
// not expired.
func (c *Console) validSession(tok string, now time.Time) bool {
	e, mac, ok := strings.Cut(tok, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || now.Unix() >= exp {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(c.mac(e)))
}

// authorized reports whether r carries the operator's credential: the key
// in an Authorization header, or a valid session cookie.
func (c *Console) authorized(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); h != "" {
		key, ok := strings.CutPrefix(h, "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(key), []byte(c.cfg.Key)) == 1
	}
	ck, err := r.Cookie(CookieName)
	return err == nil && c.validSession(ck.Value, time.Now())
}

// operator serves h to the operator only: anyone else gets 401 and
// nothing of the hub. Unsafe methods must also come from the console's own
// origin, so that another site cannot make the operator's browser publish.
func (c *Console) operator(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ssehub console"`)
			http.Error(w, "the console needs the operator's key: log in at "+Path+"/", http.StatusUnauthorized)
			return
		}
		if err := c.csrf.Check(r); err != nil {
			http.Error(w, "console: cross-origin request refused: "+err.Error(), http.StatusForbidden)
			return
		}
		h(w, r)
	})
}

// logIn checks the key posted by the login form and, when it is the
// operator's, sets the session cookie.
func (c *Console) logIn(w http.ResponseWriter, r *http.Request) {
	if err := c.csrf.Check(r); err != nil {
		http.Error(w, "console: cross-origin login refused: "+err.Error(), http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("console: the login form is larger than %d bytes", maxLoginBytes), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "console: the login form does not parse: "+err.Error(), http.StatusBadRequest)
		return
	}
	key := r.PostForm.Get("key")
	if subtle.ConstantTimeCompare([]byte(key), []byte(c.cfg.Key)) != 1 {
		c.log.Warn("console: login refused", "remote", r.RemoteAddr)
		c.loginPage(w, http.StatusUnauthorized, "That is not the operator key.")
		return
	}
	exp := time.Now().Add(c.cfg.SessionTTL)
	http.SetCookie(w, c.cookie(c.session(exp), int(c.cfg.SessionTTL/time.Second)))
	http.Redirect(w, r, Path+"/", http.StatusSeeOther)
}

// logout clears the session cookie.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if err := c.csrf.Check(r); err != nil {
		http.Error(w, "console: cross-origin logout refused: "+err.Error(), http.StatusForbidden)
		return
	}
	http.SetCookie(w, c.cookie("", -1))
	http.Redirect(w, r, Path+"/", http.StatusSeeOther)
}

// cookie is the session cookie: sent only to the console, never to
// scripts, never over plain HTTP (browsers treat localhost as secure) and
// never with requests that another site starts.
func (c *Console) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: CookieName, Value: value, Path: Path, MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode}
}
