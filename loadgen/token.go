package loadgen

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Tokens mints an HS256 publisher token (claim {"mercure":{"publish":["*"]}})
// and subscriber token (claim {"mercure":{"subscribe":["*"]}}) signed with
// key, valid for validFor.
func Tokens(key string, validFor time.Duration) (publisher, subscriber string, err error) {
	if key == "" {
		return "", "", fmt.Errorf("minting tokens: empty JWT key")
	}
	exp := jwt.NewNumericDate(time.Now().Add(validFor))
	sign := func(claim string) (string, error) {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"mercure": map[string][]string{claim: {"*"}},
			"exp":     exp,
		})
		s, err := tok.SignedString([]byte(key))
		if err != nil {
			return "", fmt.Errorf("signing the %s token: %w", claim, err)
		}
		return s, nil
	}
	if publisher, err = sign("publish"); err != nil {
		return "", "", err
	}
	if subscriber, err = sign("subscribe"); err != nil {
		return "", "", err
	}
	return publisher, subscriber, nil
}
