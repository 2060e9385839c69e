package mercure

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithms accepted for Config.PublisherJWTAlg and SubscriberJWTAlg.
var algorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512"}

// errNoKey is returned when a token is presented to a hub without a key to
// check it.
var errNoKey = errors.New("no JWT key is configured for this role")

// verifier checks tokens signed with one key and one pinned algorithm, so
// that "none" and any other algorithm are refused.
type verifier struct {
	alg string
	key any
}

// newVerifier returns a verifier for key (an HMAC secret, or an RSA public
// key in PEM) and alg (default HS256). An empty key returns nil: every
// token is then refused.
func newVerifier(role, key, alg string) (*verifier, error) {
	if alg == "" {
		alg = "HS256"
	}
	if !slices.Contains(algorithms, alg) {
		return nil, fmt.Errorf("mercure: %s JWT algorithm %q: want one of %s", role, alg, strings.Join(algorithms, ", "))
	}
	if key == "" {
		return nil, nil
	}
	v := &verifier{alg: alg, key: []byte(key)}
	if strings.HasPrefix(alg, "RS") {
		pub, err := jwt.ParseRSAPublicKeyFromPEM([]byte(key))
		if err != nil {
			return nil, fmt.Errorf("mercure: %s JWT key for %s must be an RSA public key in PEM: %w", role, alg, err)
		}
		v.key = pub
	}
	return v, nil
}

// verify checks token's signature, algorithm and time claims and decodes
// its claims into c.
func (v *verifier) verify(token string, c jwt.Claims) error {
	if v == nil {
		return errNoKey
	}
	t, err := jwt.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return v.key, nil },
		jwt.WithValidMethods([]string{v.alg}))
	if err != nil {
		return fmt.Errorf("invalid token: %w", err)
	}
	// RFC 7515 §4.1.11: a token naming extensions in "crit" must be
	// refused by a recipient that does not understand them, and this hub
	// understands none.
	if crit, ok := t.Header["crit"]; ok {
		return fmt.Errorf("invalid token: critical header parameters %v are not understood", crit)
	}
	// An explicit null decodes as an absent claim, which would turn
	// "exp": null into a token that never expires.
	if err := timeClaimsNotNull(token); err != nil {
		return fmt.Errorf("invalid token: %w", err)
	}
	return nil
}

// timeClaimsNotNull refuses a token whose exp, nbf or iat claim is null
// (RFC 7519 §4.1.4: a NumericDate).
func timeClaimsNotNull(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		if v, ok := raw[name]; ok && string(bytes.TrimSpace(v)) == "null" {
			return fmt.Errorf("claim %q is null, want a NumericDate", name)
		}
	}
	return nil
}

// Where a token came from.
type tokenSource int

const (
	fromNone tokenSource = iota
	fromHeader
	fromQuery
	fromCookie
)

// originAllowed reports whether a cookie-authorized request comes from an
// allowed origin: its Origin header, or failing that the origin of its
// Referer, must be in allowed ("*" allows any). A request with neither is
// refused.
func originAllowed(r *http.Request, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		ref, err := url.Parse(r.Header.Get("Referer"))
		if err != nil || ref.Scheme == "" || ref.Host == "" {
			return false
		}
		origin = ref.Scheme + "://" + ref.Host
	}
	return slices.Contains(allowed, "*") || slices.Contains(allowed, origin)
}
