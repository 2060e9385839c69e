package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ssehub/ssehub/mercure"
)

func TestAddAuthFlags_IssuersAudienceAndEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "issuers.json")
	if err := os.WriteFile(file, []byte(`[{"issuer": "https://as.example.com", "subscriber_keys": ["as-key"], "authorization_server": true}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []mercure.Issuer
		aud  string
		fail bool
	}{
		{"TheIssuerTakesTheHubsKeysByDefault", nil, []string{"-jwt-key", "k", "-jwt-issuer", "https://me"},
			[]mercure.Issuer{{ID: "https://me", PublisherKeys: []string{"k"}, SubscriberKeys: []string{"k"}}}, "", false},
		{"IssuerKeysOfTheirOwn", nil, []string{"-jwt-key", "k", "-jwt-issuer", "https://me", "-jwt-issuer-publisher-key", "p"},
			[]mercure.Issuer{{ID: "https://me", PublisherKeys: []string{"p"}, SubscriberKeys: []string{"k"}}}, "", false},
		{"FromTheEnvironment", map[string]string{"SSEHUB_JWT_ISSUER": "https://env", "SSEHUB_JWT_ISSUER_KEY": "e", "SSEHUB_JWT_AUDIENCE": "https://localhost/.well-known/mercure"}, nil,
			[]mercure.Issuer{{ID: "https://env", PublisherKeys: []string{"e"}, SubscriberKeys: []string{"e"}}}, "https://localhost/.well-known/mercure", false},
		{"AFileOfIssuers", nil, []string{"-jwt-issuers", file},
			[]mercure.Issuer{{ID: "https://as.example.com", SubscriberKeys: []string{"as-key"}, AuthorizationServer: true}}, "", false},
		{"AnIssuerWithoutKey", nil, []string{"-jwt-issuer", "https://me"}, nil, "", true},
		{"AKeyWithoutIssuer", nil, []string{"-jwt-issuer-key", "k"}, nil, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &Main{Stderr: io.Discard, Getenv: func(k string) string { return c.env[k] }}
			fs := m.newFlagSet("serve", "ssehub serve")
			cfg := addHubFlags(fs)
			af := addAuthFlags(fs, cfg)
			if err := m.parseFlags(fs, c.args); err != nil {
				t.Fatal(err)
			}
			err := af.apply()
			if (err != nil) != c.fail {
				t.Fatalf("apply: %v, want failure %v", err, c.fail)
			}
			if c.fail {
				return
			}
			if !slices.EqualFunc(cfg.Issuers, c.want, func(a, b mercure.Issuer) bool {
				return a.ID == b.ID && slices.Equal(a.PublisherKeys, b.PublisherKeys) && slices.Equal(a.SubscriberKeys, b.SubscriberKeys) && a.AuthorizationServer == b.AuthorizationServer
			}) || cfg.Audience != c.aud {
				t.Fatalf("Issuers %+v Audience %q, want %+v %q", cfg.Issuers, cfg.Audience, c.want, c.aud)
			}
			if cfg.AccessTokenCookie != mercure.DefaultAccessTokenCookie {
				t.Fatalf("AccessTokenCookie %q", cfg.AccessTokenCookie)
			}
		})
	}
}
