package mercure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ssehub/ssehub/idempotency"
)

// Defaults and limits of Idempotency-Key (draft-ietf-httpapi-idempotency-key-header).
const (
	// DefaultIdempotencyKeep is how long a key's answer is kept for retries.
	DefaultIdempotencyKeep = 24 * time.Hour
	// DefaultMaxIdempotencyKeyBytes bounds a key's length (400 beyond).
	DefaultMaxIdempotencyKeyBytes = 255
	// idempotencyLock is how long a claim made by a request in flight
	// holds when its node never answers it (a crash): retries are answered
	// 409 meanwhile. A publish lasts far less.
	idempotencyLock = 30 * time.Second
)

// idempotencyHeader is the request header.
const idempotencyHeader = "Idempotency-Key"

// parseIdempotencyKey reads the header's value: a Structured Field String
// (RFC 8941 §3.3.3, a quoted string) as the draft defines it; a bare value
// of visible ASCII is taken as is, since many clients send their UUID
// unquoted. It returns "" when the header is absent.
func parseIdempotencyKey(h http.Header, maxBytes int) (string, error) {
	vs := h.Values(idempotencyHeader)
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", badRequest("%s given %d times, at most once", idempotencyHeader, len(vs))
	}
	v := strings.Trim(vs[0], " \t")
	if strings.HasPrefix(v, `"`) {
		s, err := parseSFString(v)
		if err != nil {
			return "", badRequest("%s is not a Structured Field String: %v", idempotencyHeader, err)
		}
		v = s
	} else {
		for i := 0; i < len(v); i++ {
			if v[i] <= ' ' || v[i] >= 0x7f {
				return "", badRequest("%s holds a byte outside visible ASCII at %d", idempotencyHeader, i)
			}
		}
	}
	switch {
	case v == "":
		return "", badRequest("%s is empty", idempotencyHeader)
	case len(v) > maxBytes:
		return "", badRequest("%s is %d bytes, at most %d", idempotencyHeader, len(v), maxBytes)
	}
	return v, nil
}

// parseSFString parses an RFC 8941 sf-string: printable ASCII between
// double quotes, with \" and \\ as the only escapes.
func parseSFString(v string) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", errors.New("unterminated string")
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		switch {
		case c == '\\':
			i++
			if i >= len(v)-1 || (v[i] != '"' && v[i] != '\\') {
				return "", fmt.Errorf("bad escape at %d", i)
			}
			b.WriteByte(v[i])
		case c == '"':
			return "", fmt.Errorf("unescaped quote at %d", i)
		case c < 0x20 || c >= 0x7f:
			return "", fmt.Errorf("byte %#x at %d is not printable ASCII", c, i)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// fingerprint identifies a publish request's content: what the hub stores
// depends on the path, the media type and the form, not on the token (a
// retry may carry a fresher one).
func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	io.WriteString(h, r.URL.Path+"\n"+r.Header.Get("Content-Type")+"\n")
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// idempotent is a publish request's hold on its Idempotency-Key.
type idempotent struct {
	s   *Server
	key string
	fp  string
}

// claimKey claims the request's key. It answers the request itself and
// returns nil, false when the key settles it: the first answer again for a
// retry (same fingerprint, done), 409 while the first request is in flight,
// 422 for a key used with other content, 503 when the store cannot tell.
// Without a key (or with keys disabled) it returns nil, true.
func (s *Server) claimKey(w http.ResponseWriter, r *http.Request, body []byte) (*idempotent, bool) {
	if s.keys == nil {
		return nil, true
	}
	key, err := parseIdempotencyKey(r.Header, DefaultMaxIdempotencyKeyBytes)
	if err != nil {
		writeError(w, err)
		return nil, false
	}
	if key == "" {
		return nil, true
	}
	k := &idempotent{s: s, key: key, fp: fingerprint(r, body)}
	held, err := s.keys.ClaimKey(r.Context(), key, idempotency.Record{Fingerprint: k.fp, Until: time.Now().Add(idempotencyLock)})
	switch {
	case err != nil:
		w.Header().Set("Retry-After", retryAfterUnavailable)
		httpErrorf(w, http.StatusServiceUnavailable, "the %s cannot be checked now, retry later: %v", idempotencyHeader, err)
		return nil, false
	case held == nil:
		return k, true
	case held.Fingerprint != k.fp:
		// draft-ietf-httpapi-idempotency-key-header §2.7: a key reused for
		// another request payload.
		httpErrorf(w, http.StatusUnprocessableEntity, "%s %q was already used for another request", idempotencyHeader, key)
		return nil, false
	case !held.Done:
		// §2.7: the first request with this key is still being processed.
		w.Header().Set("Retry-After", "1")
		httpErrorf(w, http.StatusConflict, "a request with %s %q is still being processed", idempotencyHeader, key)
		return nil, false
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(held.Status)
	io.WriteString(w, held.Body)
	return nil, false
}

// done records the answer of a successful request for its retries; a
// failed request releases the key, so that a retry is processed afresh.
func (k *idempotent) done(ctx context.Context, status int, body string) {
	if k == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	if status != http.StatusOK {
		if err := k.s.keys.DeleteKey(ctx, k.key); err != nil {
			k.s.log.Warn("mercure: releasing an Idempotency-Key failed; retries get 409 until it expires", "key", k.key, "err", err)
		}
		return
	}
	rec := idempotency.Record{Fingerprint: k.fp, Done: true, Status: status, Body: body, Until: time.Now().Add(k.s.cfg.IdempotencyKeep)}
	if err := k.s.keys.SetKey(ctx, k.key, rec); err != nil {
		k.s.log.Warn("mercure: recording an Idempotency-Key's answer failed; retries get 409 until the claim expires", "key", k.key, "err", err)
	}
}
