package mercure

import (
	"net/url"
	"strings"
)

// parseForm parses s with the application/x-www-form-urlencoded parser of
// the URL Standard, as draft-08 §"Subscription" requires and as
// URLSearchParams and EventSource do: pairs are split on "&" only (a raw
// ";" is part of a value, where url.ParseQuery refuses it), a name
// without "=" has an empty value, "+" is a space, and a "%" not followed
// by two hex digits is kept as it is (url.ParseQuery refuses it). Decoded
// bytes are not checked here: a value that is not UTF-8 is refused by the
// value constraints, with 400, rather than silently replaced by U+FFFD.
func parseForm(s string) url.Values {
	v := url.Values{}
	for pair := range strings.SplitSeq(s, "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name = formDecode(name)
		v[name] = append(v[name], formDecode(value))
	}
	return v
}

// formDecode replaces "+" by a space and decodes each "%" followed by two
// hex digits.
func formDecode(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
