package mercure

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
)

const cacheKeySecret, cacheAud = "publisher-secret-of-at-least-32-bytes!", "https://localhost/.well-known/mercure"

// signCached signs a draft-08 publisher token for topic, valid from nbf
// (zero: no nbf) to exp.
func signCached(t testing.TB, topic string, nbf, exp time.Time) string {
	t.Helper()
	c := jwt.MapClaims{"iss": "https://issuer", "aud": cacheAud, "sub": "s", "exp": exp.Unix(),
		"authorization_details": []any{map[string]any{"type": AuthorizationDetailType, "actions": []string{"publish"},
			"topics": []any{map[string]any{"match": topic}, map[string]any{"match": "https://example.com/books/:id", "match_type": "urlpattern"}}}}}
	if !nbf.IsZero() {
		c["nbf"] = nbf.Unix()
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString([]byte(cacheKeySecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cachedTokens returns a verifier with a cache of budget bytes and a clock
// the test moves.
func cachedTokens(t *testing.T, budget int, now *time.Time) *accessTokens {
	t.Helper()
	at, err := newAccessTokens([]Issuer{{ID: "https://issuer", PublisherKeys: []string{cacheKeySecret}}}, cacheAud, nil, 100, 1024, newTokenCache(budget))
	if err != nil {
		t.Fatal(err)
	}
	at.now = func() time.Time { return *now }
	return at
}

func TestTokenCache_ACachedTokenIsRefusedFromItsExp(t *testing.T) {
	t0 := time.Unix(2_000_000_000, 0)
	now := t0
	at := cachedTokens(t, DefaultTokenCacheBytes, &now)
	var m hub.Matcher
	tok := signCached(t, "https://example.com/a", time.Time{}, t0.Add(time.Minute))
	if _, err := at.verify(tok, publisher, cacheAud, &m); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	if n, _ := at.cache.len(); n != 1 {
		t.Fatalf("cache holds %d entries after one verified token, want 1", n)
	}
	// Forget the issuer: only the cache can now accept the token, which
	// shows a hit comes from it.
	issuers := at.issuers
	at.issuers = nil
	now = t0.Add(59 * time.Second)
	if _, err := at.verify(tok, publisher, cacheAud, &m); err != nil {
		t.Fatalf("cached token before its exp: %v", err)
	}
	at.issuers = issuers
	now = t0.Add(time.Minute)
	if _, err := at.verify(tok, publisher, cacheAud, &m); !errors.Is(err, errInvalidToken) {
		t.Fatalf("cached token at its exp: err %v, want invalid token", err)
	}
	if n, _ := at.cache.len(); n != 0 {
		t.Fatalf("cache holds %d entries after the token expired, want 0", n)
	}
}

func TestTokenCache_ACachedTokenIsRefusedBeforeItsNbf(t *testing.T) {
	t0 := time.Unix(2_000_000_000, 0)
	now := t0
	at := cachedTokens(t, DefaultTokenCacheBytes, &now)
	var m hub.Matcher
	tok := signCached(t, "https://example.com/a", t0, t0.Add(time.Hour))
	if _, err := at.verify(tok, publisher, cacheAud, &m); err != nil {
		t.Fatalf("token at its nbf: %v", err)
	}
	now = t0.Add(-time.Second) // the clock steps back
	if _, err := at.verify(tok, publisher, cacheAud, &m); !errors.Is(err, errInvalidToken) {
		t.Fatalf("cached token before its nbf: err %v, want invalid token", err)
	}
}

func TestTokenCache_ARefusedTokenIsNotCached(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	at := cachedTokens(t, DefaultTokenCacheBytes, &now)
	var m hub.Matcher
	tok := signCached(t, "https://example.com/a", time.Time{}, now.Add(time.Hour))
	for name, bad := range map[string]string{
		"bad signature": tok[:len(tok)-4] + "AAAA",
		"expired":       signCached(t, "https://example.com/a", time.Time{}, now.Add(-time.Second)),
		"not yet valid": signCached(t, "https://example.com/a", now.Add(time.Minute), now.Add(time.Hour)),
	} {
		if _, err := at.verify(bad, publisher, cacheAud, &m); !errors.Is(err, errInvalidToken) {
			t.Errorf("%s: err %v, want invalid token", name, err)
		}
	}
	if n, _ := at.cache.len(); n != 0 {
		t.Fatalf("cache holds %d entries after refusals only, want 0", n)
	}
}

func TestTokenCache_ATokenIsCachedForItsRoleAndHubURLOnly(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	at := cachedTokens(t, DefaultTokenCacheBytes, &now)
	var m hub.Matcher
	tok := signCached(t, "https://example.com/a", time.Time{}, now.Add(time.Hour))
	if _, err := at.verify(tok, publisher, cacheAud, &m); err != nil {
		t.Fatal(err)
	}
	// The issuer has no subscriber key: a subscriber presenting a cached
	// publisher token must still be refused.
	if _, err := at.verify(tok, subscriber, cacheAud, &m); !errors.Is(err, errInvalidToken) {
		t.Fatalf("publisher token presented by a subscriber: err %v, want invalid token", err)
	}
	// URL patterns resolve against the hub's URL: another base is
	// another grant.
	other := "https://other.example/.well-known/mercure"
	a, err := at.verify(tok, publisher, other, &m)
	if err != nil {
		t.Fatal(err)
	}
	if a.publishTyped[1].Kind != "urlpattern "+other {
		t.Fatalf("grant for base %s resolved as %q", other, a.publishTyped[1].Kind)
	}
}

func TestTokenCache_CallersGetACopyToNarrow(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	at := cachedTokens(t, DefaultTokenCacheBytes, &now)
	var m hub.Matcher
	exp := now.Add(time.Hour)
	tok := signCached(t, "https://example.com/a", time.Time{}, exp)
	for range 2 {
		a, err := at.verify(tok, publisher, cacheAud, &m)
		if err != nil {
			t.Fatal(err)
		}
		if !a.expires.Equal(exp) {
			t.Fatalf("expires %v, want %v: a caller's narrowing leaked into the cache", a.expires, exp)
		}
		a.expires = now.Add(time.Second) // as authenticate does with MaxTokenStream
	}
}

func TestTokenCache_IsBoundedByItsBudget(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	const budget = 20 * 1024
	at := cachedTokens(t, budget, &now)
	var m hub.Matcher
	var first, last string
	for i := range 500 {
		tok := signCached(t, fmt.Sprintf("https://example.com/%d", i), time.Time{}, now.Add(time.Hour))
		if _, err := at.verify(tok, publisher, cacheAud, &m); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = tok
		}
		last = tok
	}
	n, used := at.cache.len()
	if used > budget || n*tokenEntryOverhead > budget || n == 0 {
		t.Fatalf("cache holds %d entries counted %d bytes, budget %d", n, used, budget)
	}
	at.issuers = nil // hits only from here on
	if _, err := at.verify(last, publisher, cacheAud, &m); err != nil {
		t.Fatalf("most recent token was evicted: %v", err)
	}
	if _, err := at.verify(first, publisher, cacheAud, &m); err == nil {
		t.Fatal("least recently used token is still cached past the budget")
	}
}

func TestTokenCache_AGrantLargerThanAQuarterOfTheBudgetIsNotCached(t *testing.T) {
	c := newTokenCache(4 * tokenEntryOverhead)
	now := time.Unix(2_000_000_000, 0)
	c.put(tokenKey{1}, &access{payload: make([]byte, 1)}, now)
	if n, _ := c.len(); n != 0 {
		t.Fatalf("cache holds %d entries, want 0", n)
	}
	if newTokenCache(-1) != nil || newTokenCache(0) != nil {
		t.Fatal("a cache without a budget is not off")
	}
}

func TestTokenCache_ConcurrentVerificationsAreSafe(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	at := cachedTokens(t, 8*1024, &now)
	var m hub.Matcher
	toks := make([]string, 40)
	for i := range toks {
		toks[i] = signCached(t, fmt.Sprintf("https://example.com/%d", i), time.Time{}, now.Add(time.Hour))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				if _, err := at.verify(toks[(g+i)%len(toks)], publisher, cacheAud, &m); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
