package mercure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/ssehub/ssehub/admission"
	"github.com/ssehub/ssehub/hub"
)

// publish serves POST /.well-known/mercure. Whoever sends it is checked
// (token, origin, rate) before its body is read.
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	// Until the body is read, an answer closes the connection: net/http
	// would otherwise read the rest of the body before answering, which a
	// body sent a byte a second, or chunked without end, makes last for
	// ever.
	w.Header().Set("Connection", "close")
	q, _ := url.ParseQuery(r.URL.RawQuery)
	acc, cred, aerr := s.authenticate(r, q, publisher, false)
	if aerr == nil && acc == nil {
		aerr = challenge("a publisher token is required")
	}
	if aerr != nil {
		s.refuse(w, aerr)
		return
	}
	if len(acc.publish) == 0 && len(acc.publishTyped) == 0 {
		s.refuse(w, scopeRefusal(cred.modern, "the token grants publishing to no topic"))
		return
	}
	rateKey := "sub:" + acc.subject
	if acc.subject == "" {
		rateKey = "addr:" + admission.Client(r)
	}
	if ok, retry := s.publishRate.Allow(rateKey); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(int(math.Ceil(retry.Seconds())), 1)))
		httpErrorf(w, http.StatusTooManyRequests, "publishing too often: at most %g updates per second (burst %d) per token subject, or per address for tokens without one",
			s.cfg.PublishRate, s.cfg.PublishBurst)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != formType {
		httpErrorf(w, http.StatusUnsupportedMediaType, "Content-Type must be %s, not %q", formType, r.Header.Get("Content-Type"))
		return
	}
	// URL encoding at most triples the data; the rest is room for the
	// other fields.
	rc := http.NewResponseController(w)
	if s.cfg.BodyTimeout > 0 {
		_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)) // unsupported: only the size bounds it
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 3*s.cfg.MaxDataBytes+64<<10))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		httpErrorf(w, http.StatusRequestTimeout, "the request body did not arrive within %s", s.cfg.BodyTimeout)
		return
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpErrorf(w, http.StatusRequestEntityTooLarge, "request body is larger than %d bytes (data is limited to %d bytes)", tooBig.Limit, s.cfg.MaxDataBytes)
			return
		}
		httpErrorf(w, http.StatusBadRequest, "reading the request body: %v", err)
		return
	}
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Del("Connection")
	form, err := url.ParseQuery(string(body))
	if err != nil {
		httpErrorf(w, http.StatusBadRequest, "form does not parse: %v", err)
		return
	}
	u, err := s.publishProtocol(r, cred.modern).parsePublish(form, s.lim)
	if err != nil {
		writeError(w, err)
		return
	}
	m := s.hub.Matcher()
	for _, t := range u.Topics {
		if !acc.mayPublish(m, t) {
			s.refuse(w, scopeRefusal(cred.modern, fmt.Sprintf("the token does not grant publishing to topic %q", t)))
			return
		}
	}
	key, ok := s.claimKey(w, r, body)
	if !ok {
		return
	}
	// Once read and authorized, the update is stored whatever the
	// connection does: a publisher that half-closed its socket after
	// sending cancels r.Context(), which must not lose its update.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.PublishTimeout)
	defer cancel()
	status := s.storeUpdate(ctx, w, u)
	key.done(ctx, status, u.ID)
}

// storeUpdate publishes u to the hub and answers the request: 200 and the id,
// or the reason it was not stored. It returns the status it answered.
func (s *Server) storeUpdate(ctx context.Context, w http.ResponseWriter, u *hub.Update) int {
	switch err := s.hub.Publish(ctx, u); {
	case errors.Is(err, hub.ErrInvalidUpdate):
		httpErrorf(w, http.StatusBadRequest, "%v", err)
		return http.StatusBadRequest
	case errors.Is(err, hub.ErrClosed):
		w.Header().Set("Retry-After", "1")
		httpErrorf(w, http.StatusServiceUnavailable, "the hub is shutting down")
		return http.StatusServiceUnavailable
	case errors.Is(err, hub.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		// Not stored, or not known to be: a publisher that retries with
		// the same Idempotency-Key gets it stored at most once.
		w.Header().Set("Retry-After", retryAfterUnavailable)
		httpErrorf(w, http.StatusServiceUnavailable, "the update was not stored, retry later: %v", err)
		return http.StatusServiceUnavailable
	case err != nil:
		httpErrorf(w, http.StatusInternalServerError, "publish: %v", err)
		return http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, u.ID)
	return http.StatusOK
}

// retryAfterUnavailable is the Retry-After, in seconds, of the answers given
// while the store is unavailable.
const retryAfterUnavailable = "1"

// scopeRefusal is the answer to a valid token that does not grant what it
// is used for: 403 insufficient_scope, with no challenge for draft-07
// tokens as before.
func scopeRefusal(modern bool, msg string) *authError {
	if !modern {
		return &authError{status: http.StatusForbidden, msg: msg}
	}
	return insufficientScope("%s", msg)
}

// publishProtocol returns the draft whose rules a publish request follows.
// Both drafts publish with the same form; draft-08's rules are stricter
// (reserved topics, id and type characters), and apply when the hub is
// restricted to draft-08 or the publisher presents a draft-08 token.
func (s *Server) publishProtocol(r *http.Request, modern bool) protocol {
	if s.cfg.Draft == "08" || modern {
		return draft08{base: s.hubURL(r)}
	}
	return s.proto
}
