package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/ssehub/ssehub/mercure"
)

// authFlags are the flags of draft-08 access tokens: the trusted issuers
// and their keys, the hub's audience and the algorithm allowlist.
type authFlags struct {
	c              *mercure.Config
	issuer         string
	pubKey, subKey string
	issuersFile    string
}

// issuerFile is one entry of the -jwt-issuers file.
type issuerFile struct {
	Issuer              string   `json:"issuer"`
	PublisherKeys       []string `json:"publisher_keys"`
	SubscriberKeys      []string `json:"subscriber_keys"`
	AuthorizationServer bool     `json:"authorization_server"`
}

// addAuthFlags registers the draft-08 token flags on fs, filling c; call
// apply once fs is parsed.
func addAuthFlags(fs *flag.FlagSet, c *mercure.Config) *authFlags {
	f := &authFlags{c: c}
	fs.StringVar(&f.issuer, "jwt-issuer", "",
		"issuer (the iss claim) of the draft-08 access tokens the hub trusts, e.g. https://auth.example.com;\n"+
			"its tokens are checked with -jwt-issuer-publisher-key and -jwt-issuer-subscriber-key\n"+
			"(default: -publisher-jwt-key and -subscriber-jwt-key)")
	fs.StringVar(&f.pubKey, "jwt-issuer-publisher-key", "",
		"key that checks the -jwt-issuer's publisher tokens: an HMAC secret, or a public key in PEM\n(RSA, ECDSA P-256/384/521 or Ed25519)")
	fs.StringVar(&f.subKey, "jwt-issuer-subscriber-key", "",
		"key that checks the -jwt-issuer's subscriber tokens (as -jwt-issuer-publisher-key)")
	fs.Func("jwt-issuer-key", "sets -jwt-issuer-publisher-key and -jwt-issuer-subscriber-key at once", func(v string) error {
		f.pubKey, f.subKey = v, v
		return nil
	})
	fs.StringVar(&f.issuersFile, "jwt-issuers", "",
		"JSON `file` of more trusted issuers, each with its own keys:\n"+
			`[{"issuer": "https://as.example.com", "publisher_keys": ["-----BEGIN PUBLIC KEY-----\n…"],`+"\n"+
			` "subscriber_keys": [...], "authorization_server": true}]`)
	fs.StringVar(&c.Audience, "jwt-audience", "",
		"the hub's resource identifier, which draft-08 tokens' aud claim must hold, e.g.\nhttps://localhost/.well-known/mercure (default: -public-url)")
	fs.Func("jwt-algorithms", "comma-separated signature algorithms draft-08 tokens may use (default: EdDSA, ES256, ES384,\nES512, RS256, RS384, RS512, PS256, PS384, PS512, HS256, HS384, HS512; never none)",
		listSetter(&c.JWTAlgorithms))
	fs.StringVar(&c.AccessTokenCookie, "access-token-cookie", mercure.DefaultAccessTokenCookie,
		"cookie in which draft-08 requests present their token; browsers send a __Secure- cookie over\nHTTPS only: name it without the prefix for development over http://")
	fs.DurationVar(&c.MaxTokenStream, "max-token-stream", mercure.DefaultMaxTokenStream,
		"longest life of a draft-08 stream opened with a token, whatever its exp; negative: exp only")
	fs.IntVar(&c.TokenCacheBytes, "token-cache-bytes", mercure.DefaultTokenCacheBytes,
		"memory of the cache of verified tokens, each kept until its exp at most; negative: no cache")
	return f
}

// apply adds the issuers of the flags to the Config.
func (f *authFlags) apply() error {
	if f.issuer != "" {
		iss := mercure.Issuer{ID: f.issuer}
		if k := firstOf(f.pubKey, f.c.PublisherJWTKey); k != "" {
			iss.PublisherKeys = []string{k}
		}
		if k := firstOf(f.subKey, f.c.SubscriberJWTKey); k != "" {
			iss.SubscriberKeys = []string{k}
		}
		if iss.PublisherKeys == nil && iss.SubscriberKeys == nil {
			return usageError{errors.New("-jwt-issuer needs a key: -jwt-issuer-key, or -jwt-key")}
		}
		f.c.Issuers = append(f.c.Issuers, iss)
	} else if f.pubKey != "" || f.subKey != "" {
		return usageError{errors.New("-jwt-issuer-…-key needs -jwt-issuer, the issuer the key is bound to")}
	}
	if f.issuersFile == "" {
		return nil
	}
	b, err := os.ReadFile(f.issuersFile)
	if err != nil {
		return fmt.Errorf("reading -jwt-issuers: %w", err)
	}
	var list []issuerFile
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("-jwt-issuers %s: %w", f.issuersFile, err)
	}
	for _, i := range list {
		f.c.Issuers = append(f.c.Issuers, mercure.Issuer{ID: i.Issuer, PublisherKeys: i.PublisherKeys,
			SubscriberKeys: i.SubscriberKeys, AuthorizationServer: i.AuthorizationServer})
	}
	return nil
}

// firstOf returns the first of vs that is not empty.
func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
