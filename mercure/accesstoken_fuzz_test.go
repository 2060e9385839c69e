package mercure

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// FuzzAuthorizationDetails feeds authorization_details claims to the
// parser of Mercure grants: it never panics, and what it accepts is within
// its limits and well formed.
func FuzzAuthorizationDetails(f *testing.F) {
	f.Add(`[{"type":"https://mercure.rocks/authorization-detail","actions":["publish","subscribe"],"topics":[{"match":"*"},{"match":"https://example.com/:id","match_type":"urlpattern"}],"payload":{"a":1}}]`)
	f.Add(`[{"type":"https://mercure.rocks/authorization-detail","actions":[1],"topics":["x"]}]`)
	f.Add(`[{"type":"other","topics":7},null,{}]`)
	f.Add(`{"type":"https://mercure.rocks/authorization-detail"}`)
	f.Add(`[{"type":"https://mercure.rocks/authorization-detail","actions":["publish"],"topics":[{"match":"https://example.com/(a+)+b","match_type":"urlpattern"}]}]`)
	at, err := newAccessTokens(nil, "https://localhost/.well-known/mercure", nil, 8, 256, nil)
	if err != nil {
		f.Fatal(err)
	}
	var m hub.Matcher
	f.Fuzz(func(t *testing.T, raw string) {
		if !json.Valid([]byte(raw)) {
			return
		}
		a, err := at.grants(json.RawMessage(raw), "https://localhost/.well-known/mercure", &m)
		if err != nil {
			return
		}
		if n := len(a.publishTyped) + len(a.subscribeTyped); n > 2*at.maxTopics {
			t.Fatalf("accepted %d topic matchers, at most %d", n, at.maxTopics)
		}
		for _, s := range append(a.publishTyped, a.subscribeTyped...) {
			if s.Raw == "" || len(s.Raw) > at.maxMatcher || validMatcherValue(s.Raw) != nil {
				t.Fatalf("accepted topic matcher %q", s.Raw)
			}
			m.MatchTyped(s, "https://localhost/x")
		}
		for _, p := range a.payloads {
			if p.payload != nil && !json.Valid(p.payload) {
				t.Fatalf("accepted payload %q", p.payload)
			}
		}
	})
}

// FuzzAccessToken feeds arbitrary tokens to the verifier: every refusal
// wraps errInvalidToken (the hub answers 401 invalid_token, never 500),
// and nothing is accepted without a key.
func FuzzAccessToken(f *testing.F) {
	f.Add("eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.e30.sig")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJpc3MiOiJ4In0.")
	at, err := newAccessTokens([]Issuer{{ID: "x", PublisherKeys: []string{"secret-of-at-least-32-bytes-long!!"}}}, "aud", nil, 8, 256, nil)
	if err != nil {
		f.Fatal(err)
	}
	var m hub.Matcher
	f.Fuzz(func(t *testing.T, tok string) {
		_, err := at.verify(tok, publisher, "https://localhost/.well-known/mercure", &m)
		if err == nil {
			t.Fatalf("accepted %q without its key", tok)
		}
		if !errors.Is(err, errInvalidToken) {
			t.Fatalf("refusal %v does not wrap errInvalidToken", err)
		}
		isAccessToken(tok)
	})
}
