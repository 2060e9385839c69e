package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/mercure"
)

const (
	testIssuer   = "https://issuer.example.com"
	testAudience = "https://localhost/.well-known/mercure"
)

// TestToken_Draft08MintsAnRFC9068AccessToken: typ at+jwt and every claim
// RFC 9068 asks issuers for, with one Mercure authorization detail per
// action.
func TestToken_Draft08MintsAnRFC9068AccessToken(t *testing.T) {
	env := map[string]string{"SSEHUB_JWT_ISSUER": testIssuer, "SSEHUB_JWT_AUDIENCE": testAudience}
	code, out, stderr := runMain(t, "", env, "token", "-draft", "08", "-jwt-key", "k", "-publish", "*",
		"-subscribe", "https://example.com/a", "-subscribe-urlpattern", "https://example.com/books/:id", "-payload", `{"x":1}`)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.Parse(strings.TrimSpace(out), func(*jwt.Token) (any, error) { return []byte("k"), nil }, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		t.Fatal(err)
	}
	claims = tok.Claims.(jwt.MapClaims)
	if tok.Header["typ"] != "at+jwt" {
		t.Errorf("typ %v, want at+jwt", tok.Header["typ"])
	}
	for _, c := range []string{"iss", "aud", "sub", "client_id", "iat", "exp", "jti"} {
		if claims[c] == nil {
			t.Errorf("claim %s missing", c)
		}
	}
	if claims["iss"] != testIssuer || claims["aud"] != testAudience {
		t.Errorf("iss %v aud %v", claims["iss"], claims["aud"])
	}
	details, _ := json.Marshal(claims["authorization_details"])
	want := `[{"actions":["publish"],"topics":[{"match":"*"}],"type":"https://mercure.rocks/authorization-detail"},` +
		`{"actions":["subscribe"],"payload":{"x":1},"topics":[{"match":"https://example.com/a"},{"match":"https://example.com/books/:id","match_type":"urlpattern"}],"type":"https://mercure.rocks/authorization-detail"}]`
	if string(details) != want {
		t.Errorf("authorization_details\n %s\nwant\n %s", details, want)
	}
}

// TestToken_Draft08Refusals: what a draft-08 token cannot be minted
// without, and the key types each draft signs with.
func TestToken_Draft08Refusals(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(ec)
	ecFile := filepath.Join(t.TempDir(), "ec.pem")
	if err := os.WriteFile(ecFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		ok   bool
	}{
		{"WithoutIssuer", []string{"-draft", "08", "-jwt-key", "k", "-jwt-audience", testAudience, "-publish", "*"}, false},
		{"WithoutAudience", []string{"-draft", "08", "-jwt-key", "k", "-jwt-issuer", testIssuer, "-publish", "*"}, false},
		{"WithoutExp", []string{"-draft", "08", "-jwt-key", "k", "-jwt-issuer", testIssuer, "-jwt-audience", testAudience, "-ttl", "0", "-publish", "*"}, false},
		{"APayloadThatIsNotAnObject", []string{"-draft", "08", "-jwt-key", "k", "-jwt-issuer", testIssuer, "-jwt-audience", testAudience, "-subscribe", "*", "-payload", "[1]"}, false},
		{"URLPatternsInADraft07Token", []string{"-jwt-key", "k", "-publish-urlpattern", "https://e/:x"}, false},
		{"AnECDSAKeySignsDraft08", []string{"-draft", "08", "-private-key", ecFile, "-jwt-issuer", testIssuer, "-jwt-audience", testAudience, "-publish", "*"}, true},
		{"AnECDSAKeyDoesNotSignDraft07", []string{"-private-key", ecFile, "-publish", "*"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runMain(t, "", nil, append([]string{"token"}, c.args...)...)
			if (code == exitOK) != c.ok {
				t.Fatalf("exit %d (%s), want ok=%v", code, stderr, c.ok)
			}
		})
	}
}

// TestServe_Draft08TokensOfAnExternalIssuer: "ssehub serve" told the
// issuer and the audience accepts the tokens "ssehub token" mints for them
// whatever address it listens on, serves the protected resource metadata
// of that audience, and still accepts draft-07 tokens.
func TestServe_Draft08TokensOfAnExternalIssuer(t *testing.T) {
	const key = "draft08-e2e-secret-of-at-least-32-bytes"
	s := startServer(t, "-jwt-key", key, "-jwt-issuer", testIssuer, "-jwt-audience", testAudience, "-store", "memory://")
	mint := func(args ...string) string {
		t.Helper()
		code, out, stderr := runMain(t, "", nil, append([]string{"token", "-jwt-key", key}, args...)...)
		if code != exitOK {
			t.Fatalf("token %v: exit %d: %s", args, code, stderr)
		}
		return strings.TrimSpace(out)
	}
	post := func(tok string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.url+mercure.HubPath, strings.NewReader(url.Values{"topic": {"https://example.com/a"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return res.StatusCode, res.Header.Get("WWW-Authenticate")
	}
	cases := []struct {
		name string
		tok  string
		want int
	}{
		{"ADraft08TokenForTheAudience", mint("-draft", "08", "-jwt-issuer", testIssuer, "-jwt-audience", testAudience, "-publish", "*"), http.StatusOK},
		{"ADraft08TokenForTheListeningAddress", mint("-draft", "08", "-jwt-issuer", testIssuer, "-jwt-audience", s.url+mercure.HubPath, "-publish", "*"), http.StatusUnauthorized},
		{"ADraft08TokenOfAnotherIssuer", mint("-draft", "08", "-jwt-issuer", "https://other.example.com", "-jwt-audience", testAudience, "-publish", "*"), http.StatusUnauthorized},
		{"ADraft07Token", mint("-publish", "*"), http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if status, www := post(c.tok); status != c.want {
				t.Fatalf("status %d (%s), want %d", status, www, c.want)
			}
		})
	}
	t.Run("TheMetadataNamesTheAudience", func(t *testing.T) {
		res, err := http.Get(s.url + mercure.ProtectedResourceMetadataPath)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var doc struct{ Resource string }
		if err := json.Unmarshal(b, &doc); err != nil || doc.Resource != testAudience {
			t.Fatalf("metadata %s (%v), want resource %s", b, err, testAudience)
		}
	})
}
