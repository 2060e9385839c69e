package mercure

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
)

// BenchmarkAccessTokenVerify verifies a draft-08 publisher token (HS256,
// two grants, one a URL pattern), as every draft-08 publish does: Cold
// without the cache of verified tokens, Cached with it (the same token on
// every request, a publisher's common case).
func BenchmarkAccessTokenVerify(b *testing.B) {
	const key, aud = "publisher-secret-of-at-least-32-bytes!", "https://localhost/.well-known/mercure"
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "https://issuer", "aud": aud, "sub": "s", "client_id": "c", "iat": time.Now().Unix(),
		"exp": time.Now().Add(time.Hour).Unix(), "jti": "j",
		"authorization_details": []any{map[string]any{"type": AuthorizationDetailType, "actions": []string{"publish"},
			"topics": []any{map[string]any{"match": "https://example.com/a"}, map[string]any{"match": "https://example.com/books/:id", "match_type": "urlpattern"}}}},
	})
	tok.Header["typ"] = "at+jwt"
	signed, err := tok.SignedString([]byte(key))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		cache *tokenCache
	}{{"Cold", nil}, {"Cached", newTokenCache(DefaultTokenCacheBytes)}} {
		b.Run(bc.name, func(b *testing.B) {
			at, err := newAccessTokens([]Issuer{{ID: "https://issuer", PublisherKeys: []string{key}}}, aud, nil, 100, 1024, bc.cache)
			if err != nil {
				b.Fatal(err)
			}
			var m hub.Matcher
			b.ReportAllocs()
			for b.Loop() {
				if _, err := at.verify(signed, publisher, aud, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
