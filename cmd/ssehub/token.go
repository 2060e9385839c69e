package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/ssehub/ssehub/mercure"
)

const tokenSynopsis = `Usage: ssehub token [flags]

Prints a JWT that the hub accepts: give it to "ssehub publish -token", put it
in an Authorization: Bearer header, or in the authorization cookie.

  ssehub token -jwt-key dev-secret -publish '*'
  ssehub token -jwt-key dev-secret -subscribe 'https://example.com/books/{id}'

With -draft 08 it is a Mercure 1.0 access token (RFC 9068: typ at+jwt, iss,
aud, exp, sub, client_id, iat, jti) whose authorization_details grant the
actions; -publish and -subscribe are then exact topics (or *), and
-publish-urlpattern and -subscribe-urlpattern URL patterns:

  ssehub token -draft 08 -jwt-key dev-secret -jwt-issuer https://me.example.com \
    -jwt-audience https://localhost/.well-known/mercure \
    -subscribe-urlpattern 'https://example.com/books/:id'

Sign with the key the hub checks: -jwt-key (SSEHUB_JWT_KEY), -jwt-issuer and
-jwt-audience are shared with "ssehub serve", so one environment serves both.`

func runToken(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("token", tokenSynopsis)
	key := fs.String("jwt-key", "", "HMAC secret to sign with (HS256, HS384, HS512)")
	rsaKey := fs.String("rsa-private-key", "", "`file` with an RSA private key in PEM, to sign with RS256, RS384 or RS512 instead")
	privKey := fs.String("private-key", "", "`file` with a private key in PEM (RSA, ECDSA or Ed25519), to sign with\nRS*, PS*, ES* or EdDSA (the last three: draft 08 only)")
	alg := fs.String("alg", "", "signing algorithm (default HS256 with -jwt-key, RS256 with an RSA key,\nES256/384/512 with an ECDSA key, EdDSA with an Ed25519 key)")
	draft := fs.String("draft", "07", "token format: 07 (the mercure claim) or 08 (a Mercure 1.0 access token)")
	var publish, subscribe, publishPattern, subscribePattern stringsFlag
	fs.Var(&publish, "publish", "topic `selector` the token may publish to; repeatable; * for all")
	fs.Var(&subscribe, "subscribe", "topic `selector` whose private updates the token may receive; repeatable; * for all")
	fs.Var(&publishPattern, "publish-urlpattern", "URL `pattern` of topics the token may publish to (draft 08); repeatable")
	fs.Var(&subscribePattern, "subscribe-urlpattern", "URL `pattern` of topics whose private updates the token may receive (draft 08); repeatable")
	payload := fs.String("payload", "", "JSON the hub attaches to the subscription (draft 07: mercure.payload;\ndraft 08: the payload of the subscribe grant, a JSON object)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid; 0 for no expiry (draft 07 only: draft 08 requires exp)")
	issuer := fs.String("jwt-issuer", "", "the token's iss claim (draft 08): an issuer the hub trusts")
	audience := fs.String("jwt-audience", "", "the token's aud claim (draft 08): the hub's resource identifier,\ne.g. https://localhost/.well-known/mercure")
	subject := fs.String("sub", "", "the token's sub claim (draft 08; default: a random urn:uuid)")
	clientID := fs.String("client-id", "ssehub", "the token's client_id claim (draft 08)")
	if err := m.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if len(publish)+len(publishPattern)+len(subscribe)+len(subscribePattern) == 0 {
		return usageError{errors.New("a token needs -publish or -subscribe (or both)")}
	}
	var p any
	if *payload != "" {
		if err := json.Unmarshal([]byte(*payload), &p); err != nil {
			return usageError{fmt.Errorf("-payload is not JSON: %w", err)}
		}
	}

	var claims jwt.MapClaims
	switch *draft {
	case "07":
		if len(publishPattern)+len(subscribePattern) > 0 {
			return usageError{errors.New("-publish-urlpattern and -subscribe-urlpattern need -draft 08")}
		}
		claims = claims07(publish, subscribe, p, *ttl)
	case "08":
		var err error
		claims, err = claims08(accessTokenSpec{issuer: *issuer, audience: *audience, subject: *subject, clientID: *clientID,
			ttl: *ttl, payload: p, publish: publish, subscribe: subscribe,
			publishPatterns: publishPattern, subscribePatterns: subscribePattern})
		if err != nil {
			return err
		}
	default:
		return usageError{fmt.Errorf("-draft %q: want 07 or 08", *draft)}
	}

	method, signKey, err := signer(*key, *rsaKey, *privKey, *alg)
	if err != nil {
		return err
	}
	tok := jwt.NewWithClaims(method, claims)
	if *draft == "08" {
		tok.Header["typ"] = "at+jwt" // RFC 9068 §2.1
	} else {
		switch method.(type) {
		case *jwt.SigningMethodHMAC, *jwt.SigningMethodRSA:
		default:
			return usageError{fmt.Errorf("a draft-07 hub checks HS* and RS* tokens only, not %s", method.Alg())}
		}
	}
	signed, err := tok.SignedString(signKey)
	if err != nil {
		return fmt.Errorf("signing the token: %w", err)
	}
	_, err = fmt.Fprintln(m.Stdout, signed)
	return err
}

// claims07 are the claims of a draft-07 token: the mercure claim.
func claims07(publish, subscribe []string, payload any, ttl time.Duration) jwt.MapClaims {
	claims := jwt.MapClaims{}
	mc := map[string]any{}
	if len(publish) > 0 {
		mc["publish"] = publish
	}
	if len(subscribe) > 0 {
		mc["subscribe"] = subscribe
	}
	if payload != nil {
		mc["payload"] = payload
	}
	claims["mercure"] = mc
	if ttl > 0 {
		claims["exp"] = time.Now().Add(ttl).Unix()
	}
	return claims
}

// accessTokenSpec is what a draft-08 access token says.
type accessTokenSpec struct {
	issuer, audience, subject, clientID string
	ttl                                 time.Duration
	payload                             any
	publish, subscribe                  []string
	publishPatterns, subscribePatterns  []string
}

// claims08 are the claims of a draft-08 access token: every claim RFC 9068
// asks issuers for, and one Mercure authorization detail per action.
func claims08(s accessTokenSpec) (jwt.MapClaims, error) {
	switch {
	case s.issuer == "":
		return nil, usageError{errors.New("a draft-08 token needs -jwt-issuer (SSEHUB_JWT_ISSUER), an issuer the hub trusts")}
	case s.audience == "":
		return nil, usageError{errors.New("a draft-08 token needs -jwt-audience (SSEHUB_JWT_AUDIENCE), the hub's resource identifier")}
	case s.ttl <= 0:
		return nil, usageError{errors.New("a draft-08 token needs an exp: give -ttl a positive duration")}
	}
	if _, ok := s.payload.(map[string]any); s.payload != nil && !ok {
		return nil, usageError{errors.New("-payload must be a JSON object for a draft-08 token")}
	}
	if s.subject == "" {
		s.subject = "urn:uuid:" + uuid.NewString()
	}
	matchers := func(exact, patterns []string) []map[string]string {
		var ms []map[string]string
		for _, e := range exact {
			ms = append(ms, map[string]string{"match": e})
		}
		for _, p := range patterns {
			ms = append(ms, map[string]string{"match": p, "match_type": "urlpattern"})
		}
		return ms
	}
	var details []map[string]any
	if t := matchers(s.publish, s.publishPatterns); t != nil {
		details = append(details, map[string]any{"type": mercure.AuthorizationDetailType, "actions": []string{"publish"}, "topics": t})
	}
	if t := matchers(s.subscribe, s.subscribePatterns); t != nil {
		d := map[string]any{"type": mercure.AuthorizationDetailType, "actions": []string{"subscribe"}, "topics": t}
		if s.payload != nil {
			d["payload"] = s.payload
		}
		details = append(details, d)
	}
	now := time.Now()
	return jwt.MapClaims{
		"iss": s.issuer, "aud": s.audience, "sub": s.subject, "client_id": s.clientID,
		"iat": now.Unix(), "exp": now.Add(s.ttl).Unix(), "jti": "urn:uuid:" + uuid.NewString(),
		"authorization_details": details,
	}, nil
}

// signer returns the signing method and key the flags name: an HMAC
// secret, or a private key file in PEM.
func signer(secret, rsaFile, keyFile, alg string) (jwt.SigningMethod, any, error) {
	given := 0
	for _, v := range []string{secret, rsaFile, keyFile} {
		if v != "" {
			given++
		}
	}
	switch {
	case given > 1:
		return nil, nil, usageError{errors.New("give one of -jwt-key, -rsa-private-key and -private-key")}
	case given == 0:
		return nil, nil, usageError{errors.New("no signing key: set -jwt-key (or SSEHUB_JWT_KEY), -rsa-private-key or -private-key")}
	case secret != "":
		method := signingMethod(alg, "HS256")
		if _, ok := method.(*jwt.SigningMethodHMAC); !ok {
			return nil, nil, usageError{fmt.Errorf("-alg %q does not sign with an HMAC secret: use HS256, HS384 or HS512", alg)}
		}
		return method, []byte(secret), nil
	}
	file := rsaFile + keyFile
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the private key: %w", err)
	}
	if k, err := jwt.ParseRSAPrivateKeyFromPEM(pem); err == nil {
		method := signingMethod(alg, "RS256")
		switch method.(type) {
		case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
			return method, k, nil
		}
		return nil, nil, usageError{fmt.Errorf("-alg %q does not sign with an RSA key: use RS256, RS384, RS512, PS256, PS384 or PS512", alg)}
	} else if rsaFile != "" {
		return nil, nil, fmt.Errorf("%s is not an RSA private key in PEM: %w", file, err)
	}
	if k, err := jwt.ParseECPrivateKeyFromPEM(pem); err == nil {
		bits := k.Curve.Params().BitSize
		def := map[int]string{256: "ES256", 384: "ES384", 521: "ES512"}[bits]
		method, ok := signingMethod(alg, def).(*jwt.SigningMethodECDSA)
		if !ok || method.CurveBits != bits {
			return nil, nil, usageError{fmt.Errorf("-alg %q does not sign with this ECDSA key: use %s", alg, def)}
		}
		return method, k, nil
	}
	if k, err := jwt.ParseEdPrivateKeyFromPEM(pem); err == nil {
		if alg != "" && alg != "EdDSA" {
			return nil, nil, usageError{fmt.Errorf("-alg %q does not sign with an Ed25519 key: use EdDSA", alg)}
		}
		return jwt.SigningMethodEdDSA, k, nil
	}
	return nil, nil, fmt.Errorf("%s is not an RSA, ECDSA or Ed25519 private key in PEM", file)
}

// signingMethod returns the method named alg, or def when alg is empty. An
// unknown name yields nil, which the callers' type checks refuse.
func signingMethod(alg, def string) jwt.SigningMethod {
	if alg == "" {
		alg = def
	}
	return jwt.GetSigningMethod(alg)
}
