package mercure_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/mercure"
)

// TestAuth_RS256 checks the asymmetric path: tokens signed with the private
// key are accepted, and an HS256 token whose "secret" is the public key
// (the classic algorithm-confusion attack) is refused.
func TestAuth_RS256(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	s, err := mercure.New(mercure.Config{PublisherJWTKey: pubPEM, PublisherJWTAlg: "RS256"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	claims := jwt.MapClaims{"mercure": map[string]any{"publish": []string{"*"}}}
	rs256, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	confused, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(pubPEM))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(other)

	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"SignedWithThePrivateKey", rs256, http.StatusOK},
		{"HS256WithThePublicKeyAsSecret", confused, http.StatusUnauthorized},
		{"SignedWithAnotherKey", wrongKey, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := url.Values{"topic": {"https://example.com/x"}, "data": {"d"}}.Encode()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+mercure.HubPath, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+tt.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestNew_RefusesAKeyThatDoesNotFitTheAlgorithm(t *testing.T) {
	for _, cfg := range []mercure.Config{
		{PublisherJWTKey: "not a pem key", PublisherJWTAlg: "RS256"},
		{PublisherJWTKey: "secret", PublisherJWTAlg: "none"},
		{SubscriberJWTKey: "secret", SubscriberJWTAlg: "ES999"},
	} {
		if s, err := mercure.New(cfg); err == nil {
			s.Close()
			t.Errorf("New(%+v) accepted the configuration", cfg)
		}
	}
}

// TestAuth_RefusedTokenClaimsAndHeaders are issue 11 finding 13: RFC 7515
// §4.1.11 requires refusing a JWS whose "crit" names an extension the
// recipient does not understand, and RFC 7519 §4.1.4 makes exp a
// NumericDate, so "exp": null is not "no expiry".
func TestAuth_RefusedTokenClaimsAndHeaders(t *testing.T) {
	const key = "!ChangeThisMercureHubJWTSecretKey!"
	s, err := mercure.New(mercure.Config{PublisherJWTKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	sign := func(header map[string]any, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		for k, v := range header {
			tok.Header[k] = v
		}
		str, err := tok.SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return str
	}
	grant := func(extra map[string]any) jwt.MapClaims {
		c := jwt.MapClaims{"mercure": map[string]any{"publish": []string{"*"}}}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"a plain token is accepted", sign(nil, grant(nil)), http.StatusOK},
		{"an unknown crit header parameter is refused", sign(map[string]any{"crit": []string{"exp-ext"}, "exp-ext": 1}, grant(nil)), http.StatusUnauthorized},
		{"an empty crit list is refused", sign(map[string]any{"crit": []string{}}, grant(nil)), http.StatusUnauthorized},
		{"exp null is refused, not taken as no expiry", sign(nil, grant(map[string]any{"exp": nil})), http.StatusUnauthorized},
		{"nbf null is refused", sign(nil, grant(map[string]any{"nbf": nil})), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := url.Values{"topic": {"https://example.com/x"}, "data": {"d"}}.Encode()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+mercure.HubPath, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+tt.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
