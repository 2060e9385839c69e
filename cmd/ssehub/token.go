package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const tokenSynopsis = `Usage: ssehub token [flags]

Prints a JWT that the hub accepts: give it to "ssehub publish -token", put it
in an Authorization: Bearer header, or in the mercureAuthorization cookie.

  ssehub token -jwt-key dev-secret -publish '*'
  ssehub token -jwt-key dev-secret -subscribe 'https://example.com/books/{id}'

Sign with the same key the hub checks: -jwt-key (SSEHUB_JWT_KEY) is shared
with "ssehub serve", so one environment variable serves both.`

func runToken(ctx context.Context, m *Main, args []string) error {
	fs := m.newFlagSet("token", tokenSynopsis)
	key := fs.String("jwt-key", "", "HMAC secret to sign with (HS256, HS384, HS512)")
	rsaKey := fs.String("rsa-private-key", "", "`file` with an RSA private key in PEM, to sign with RS256, RS384 or RS512 instead")
	alg := fs.String("alg", "", "signing algorithm (default HS256 with -jwt-key, RS256 with -rsa-private-key)")
	var publish, subscribe stringsFlag
	fs.Var(&publish, "publish", "topic `selector` the token may publish to; repeatable; * for all")
	fs.Var(&subscribe, "subscribe", "topic `selector` whose private updates the token may receive; repeatable; * for all")
	payload := fs.String("payload", "", "JSON the hub attaches to the subscription (mercure.payload)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid; 0 for no expiry")
	if err := m.parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if len(publish) == 0 && len(subscribe) == 0 {
		return usageError{errors.New("a token needs -publish or -subscribe (or both)")}
	}

	claims := jwt.MapClaims{}
	mc := map[string]any{}
	if len(publish) > 0 {
		mc["publish"] = []string(publish)
	}
	if len(subscribe) > 0 {
		mc["subscribe"] = []string(subscribe)
	}
	if *payload != "" {
		var p any
		if err := json.Unmarshal([]byte(*payload), &p); err != nil {
			return usageError{fmt.Errorf("-payload is not JSON: %w", err)}
		}
		mc["payload"] = p
	}
	claims["mercure"] = mc
	if *ttl > 0 {
		claims["exp"] = time.Now().Add(*ttl).Unix()
	}

	var method jwt.SigningMethod
	var signKey any
	switch {
	case *key != "" && *rsaKey != "":
		return usageError{errors.New("give -jwt-key or -rsa-private-key, not both")}
	case *key != "":
		method, signKey = signingMethod(*alg, "HS256"), []byte(*key)
		if _, ok := method.(*jwt.SigningMethodHMAC); !ok {
			return usageError{fmt.Errorf("-alg %q does not sign with an HMAC secret: use HS256, HS384 or HS512", *alg)}
		}
	case *rsaKey != "":
		pem, err := os.ReadFile(*rsaKey)
		if err != nil {
			return fmt.Errorf("reading -rsa-private-key: %w", err)
		}
		k, err := jwt.ParseRSAPrivateKeyFromPEM(pem)
		if err != nil {
			return fmt.Errorf("%s is not an RSA private key in PEM: %w", *rsaKey, err)
		}
		method, signKey = signingMethod(*alg, "RS256"), k
		if _, ok := method.(*jwt.SigningMethodRSA); !ok {
			return usageError{fmt.Errorf("-alg %q does not sign with an RSA key: use RS256, RS384 or RS512", *alg)}
		}
	default:
		return usageError{errors.New("no signing key: set -jwt-key (or SSEHUB_JWT_KEY) or -rsa-private-key")}
	}
	signed, err := jwt.NewWithClaims(method, claims).SignedString(signKey)
	if err != nil {
		return fmt.Errorf("signing the token: %w", err)
	}
	_, err = fmt.Fprintln(m.Stdout, signed)
	return err
}

// signingMethod returns the method named alg, or def when alg is empty. An
// unknown name yields nil, which the callers' type checks refuse.
func signingMethod(alg, def string) jwt.SigningMethod {
	if alg == "" {
		alg = def
	}
	return jwt.GetSigningMethod(alg)
}
