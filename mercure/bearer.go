package mercure

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// authError is a refusal of a request's credentials, answered with an
// RFC 6750 Bearer challenge: code is its error attribute ("" for a request
// that presented no token).
type authError struct {
	status int
	code   string
	msg    string
}

func (e *authError) Error() string { return e.msg }

// RFC 6750 §3.1 error codes.
const (
	errInvalidRequest    = "invalid_request"
	errInvalidTokenCode  = "invalid_token"
	errInsufficientScope = "insufficient_scope"
)

func invalidRequest(format string, args ...any) *authError {
	return &authError{http.StatusBadRequest, errInvalidRequest, fmt.Sprintf(format, args...)}
}

func insufficientScope(format string, args ...any) *authError {
	return &authError{http.StatusForbidden, errInsufficientScope, fmt.Sprintf(format, args...)}
}

// challenge answers a request that needs a token and presented none: 401
// and a Bearer challenge without an error code (RFC 6750 §3.1).
func challenge(format string, args ...any) *authError {
	return &authError{http.StatusUnauthorized, "", fmt.Sprintf(format, args...)}
}

// refuse answers a refused request with e's status and its Bearer
// challenge, which points to the hub's protected resource metadata when it
// has some (draft-08 §"Error Responses", RFC 9728 §5.1).
func (s *Server) refuse(w http.ResponseWriter, e *authError) {
	c := "Bearer"
	sep := " "
	if e.code != "" {
		c += sep + `error="` + e.code + `"`
		sep = ", "
	}
	if s.metadataURL != "" {
		c += sep + `resource_metadata="` + s.metadataURL + `"`
	}
	if e.status == http.StatusUnauthorized || e.code != "" {
		w.Header().Set("WWW-Authenticate", c)
	}
	httpErrorf(w, e.status, "%s", e.msg)
}

// credentials is the token a request presents and the draft it belongs to.
type credentials struct {
	token  string
	src    tokenSource
	modern bool // a draft-08 access token, verified as RFC 9068 says
}

// presented finds the request's token. A draft-08 request (draft08, or a
// hub restricted to draft-08) presents it in the Authorization header, or
// else in the access-token cookie; the authorization query parameter is
// not a way to present one (draft-08 §"Presenting the Access Token"), so
// it is ignored. Other requests may also use draft-07's query parameter
// and cookie, as before; a token they present is read as draft-08's when
// its typ says it is an access token, unless the hub is restricted to
// draft-07.
func (s *Server) presented(r *http.Request, q url.Values, draft08 bool) (credentials, *authError) {
	draft08 = draft08 || s.cfg.Draft == "08"
	modernOK := s.cfg.Draft != "07"
	kind := func(tok string) bool { return draft08 || modernOK && isAccessToken(tok) }
	if hs := r.Header.Values("Authorization"); len(hs) > 0 {
		if !draft08 {
			tok, ok := strings.CutPrefix(hs[0], "Bearer ")
			if !ok || tok == "" {
				return credentials{}, &authError{http.StatusUnauthorized, "", `Authorization header must be "Bearer <token>"`}
			}
			return credentials{tok, fromHeader, kind(tok)}, nil
		}
		// RFC 6750 §2.1: the scheme is matched case-insensitively; a
		// second header is a second token.
		if len(hs) > 1 {
			return credentials{}, invalidRequest("%d Authorization headers: present one token", len(hs))
		}
		scheme, tok, _ := strings.Cut(hs[0], " ")
		if !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
			return credentials{}, invalidRequest(`the Authorization header must be "Bearer <token>"`)
		}
		return credentials{tok, fromHeader, true}, nil
	}
	if !draft08 {
		if v, ok := q["authorization"]; ok {
			return credentials{v[0], fromQuery, kind(v[0])}, nil
		}
		if c, err := r.Cookie(s.cfg.CookieName); err == nil && c.Value != "" {
			return credentials{c.Value, fromCookie, kind(c.Value)}, nil
		}
	}
	if !modernOK {
		return credentials{}, nil
	}
	var tok string
	for _, c := range r.CookiesNamed(s.cfg.AccessTokenCookie) {
		switch {
		case c.Value == "" || c.Value == tok:
		case tok != "":
			// Two tokens under one name (a sibling subdomain can set a
			// cookie for the hub's domain): which one the client meant is
			// unknown, and taking either could act as someone else.
			return credentials{}, invalidRequest("two %s cookies with different tokens", s.cfg.AccessTokenCookie)
		default:
			tok = c.Value
		}
	}
	if tok == "" {
		return credentials{}, nil
	}
	return credentials{tok, fromCookie, true}, nil
}

// authenticate verifies the token the request presents for rl, if any: a
// draft-08 access token as RFC 9068 and draft-08 say, a draft-07 token as
// before. acc is nil when no token was presented. An error is the answer
// to give.
func (s *Server) authenticate(r *http.Request, q url.Values, rl role, draft08 bool) (*access, credentials, *authError) {
	cred, aerr := s.presented(r, q, draft08)
	if aerr != nil || cred.src == fromNone {
		return nil, cred, aerr
	}
	var acc *access
	var err error
	if cred.modern {
		acc, err = s.tokens.verify(cred.token, rl, s.hubURL(r), s.hub.Matcher())
	} else {
		v := s.sub
		if rl == publisher {
			v = s.pub
		}
		// Draft-07 tokens are cached too: the same token on every publish
		// is the common case, and the check is a signature and a parse.
		key := newTokenKey('7', rl, "", cred.token)
		var ok bool
		if acc, ok = s.verified.get(key, time.Now()); !ok {
			if acc, err = s.proto.access(cred.token, v); err == nil {
				s.verified.put(key, acc, time.Now())
				cp := *acc
				acc = &cp
			}
		}
	}
	if err != nil {
		// Every reason is answered alike: which check failed is the
		// issuer's to find out (it is logged), not the bearer's.
		s.log.Debug("mercure: token refused", "role", rl.String(), "err", err)
		msg := rl.String() + " token refused"
		if !cred.modern {
			msg += ": " + err.Error() // draft-07 answers always said why
		}
		return nil, cred, &authError{http.StatusUnauthorized, errInvalidTokenCode, msg}
	}
	if cred.src == fromCookie && rl == publisher && !originAllowed(r, s.cfg.PublishOrigins) {
		msg := fmt.Sprintf("publishing with a cookie is not allowed from this origin (Origin %q, Referer %q)",
			r.Header.Get("Origin"), r.Header.Get("Referer"))
		if !cred.modern {
			return nil, cred, &authError{status: http.StatusForbidden, msg: msg}
		}
		return nil, cred, invalidRequest("%s", msg)
	}
	// exp alone cannot revoke an open stream: draft-08 §"Subscribers"
	// asks for a bound of the hub's own.
	if cred.modern && rl == subscriber && s.cfg.MaxTokenStream > 0 {
		if most := time.Now().Add(s.cfg.MaxTokenStream); most.Before(acc.expires) {
			acc.expires = most
		}
	}
	return acc, cred, nil
}
