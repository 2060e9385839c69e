package mercure_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/mercure/mercuretest"
)

// A token the hub has verified, and so cached, is refused once it
// expires, through HTTP and for both drafts: the cache never outlives exp.
// The wait is for the clock to pass exp (whole seconds in a JWT), bounded.
func TestTokenCache_ACachedTokenIsRefusedOnceExpired(t *testing.T) {
	h := newHub08(t, nil)
	for _, tc := range []struct {
		name string
		mint func(exp int64) string
	}{
		{"Draft07", func(exp int64) string {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": exp,
				"mercure": map[string]any{"publish": []string{"urn:cached"}}}).SignedString([]byte(pubKey08))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}},
		{"Draft08", func(exp int64) string {
			return mercuretest.AccessToken(t, pubKey08, localAudience, map[string]any{"exp": exp}, grant(pub, "urn:cached"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			exp := time.Now().Add(time.Second).Unix()
			tok := tc.mint(exp)
			form := url.Values{"topic": {"urn:cached"}}
			for range 2 { // the second answer comes from the cache
				if a := h.publish(form, auth(tok)); a.status != http.StatusOK {
					t.Fatalf("publish with a fresh token = %d %q", a.status, a.body)
				}
			}
			deadline := time.Now().Add(mercuretest.Timeout)
			for time.Now().Unix() <= exp {
				if time.Now().After(deadline) {
					t.Fatal("the clock did not pass exp within the timeout")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if a := h.publish(form, auth(tok)); a.status != http.StatusUnauthorized {
				t.Fatalf("publish with the cached token past its exp = %d %q, want 401", a.status, a.body)
			}
		})
	}
}
