package mercure

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

var fuzzLimits = limits{maxTopics: 5, maxData: 64, maxID: 16, maxType: 8}

func FuzzParsePublish(f *testing.F) {
	f.Add("topic=t&data=x&id=1&type=a&retry=10&private=on")
	f.Add("topic=t&id=%0A")
	f.Add("topic=%ff")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		u, err := draft07{}.parsePublish(form, fuzzLimits)
		if err != nil {
			if _, ok := err.(*httpError); !ok {
				t.Fatalf("error %T is not an httpError", err)
			}
			return
		}
		if len(u.Topics) == 0 || len(u.Topics) > fuzzLimits.maxTopics || int64(len(u.Data)) > fuzzLimits.maxData ||
			len(u.ID) > fuzzLimits.maxID || len(u.Type) > fuzzLimits.maxType {
			t.Fatalf("accepted out-of-limit update %+v", u)
		}
		if strings.ContainsAny(u.ID, "\r\n\x00") || strings.ContainsAny(u.Type, "\r\n") || !utf8.ValidString(u.Data) {
			t.Fatalf("accepted an update that would corrupt the stream: %+v", u)
		}
		if err := u.Validate(); err != nil {
			t.Fatalf("accepted update fails Validate: %v", err)
		}
	})
}

func FuzzParseSubscribe(f *testing.F) {
	f.Add("topic=a&topic=b&lastEventID=x", "")
	f.Add("lastEventID=earliest", "id")
	f.Fuzz(func(t *testing.T, query, header string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		h := http.Header{}
		if header != "" {
			h.Set("Last-Event-ID", header)
		}
		req, err := draft07{}.parseSubscribe(q, h, fuzzLimits)
		if err != nil {
			return
		}
		if len(req.selectors) == 0 || len(req.selectors) > fuzzLimits.maxTopics {
			t.Fatalf("accepted %d selectors", len(req.selectors))
		}
		if header != "" && req.lastEventID != header {
			t.Fatalf("the header did not win: %q", req.lastEventID)
		}
	})
}

func FuzzAccessClaims(f *testing.F) {
	f.Add(`{"mercure":{"publish":["*"],"subscribe":["a"],"payload":{"x":1}}}`)
	f.Add(`{"mercure":{"publish":"*"}}`)
	f.Add(`{"exp":1}`)
	v, _ := newVerifier("test", "a-key-long-enough-for-hs256-000000000", "HS256")
	f.Fuzz(func(t *testing.T, claims string) {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{})
		signing, err := tok.SigningString()
		if err != nil {
			return
		}
		// Replace the payload with the fuzzed JSON and sign it.
		parts := strings.Split(signing, ".")
		parts[1] = base64.RawURLEncoding.EncodeToString([]byte(claims))
		unsigned := parts[0] + "." + parts[1]
		sig, err := jwt.SigningMethodHS256.Sign(unsigned, v.key)
		if err != nil {
			return
		}
		a, err := draft07{}.access(unsigned+"."+base64.RawURLEncoding.EncodeToString(sig), v)
		if err == nil && a == nil {
			t.Fatal("nil access without error")
		}
	})
}

func FuzzParseIdempotencyKey(f *testing.F) {
	f.Add(`"8e03978e-40d5-43e8-bc93-6894a57f9324"`)
	f.Add(`abc`)
	f.Add(`"a\"b\\c"`)
	f.Add(`"unterminated`)
	f.Fuzz(func(t *testing.T, v string) {
		key, err := parseIdempotencyKey(http.Header{"Idempotency-Key": {v}}, DefaultMaxIdempotencyKeyBytes)
		if err != nil {
			if _, ok := err.(*httpError); !ok {
				t.Fatalf("error %T is not an httpError", err)
			}
			return
		}
		if key == "" || len(key) > DefaultMaxIdempotencyKeyBytes {
			t.Fatalf("accepted key %q of %d bytes", key, len(key))
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] >= 0x7f {
				t.Fatalf("accepted key %q with byte %#x", key, key[i])
			}
		}
	})
}
