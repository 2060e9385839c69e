package mercure

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzParseForm checks parseForm against url.ParseQuery wherever the
// latter accepts its input (no ";" and no stray "%"): both must read the
// same pairs, in the same order.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"", "match=urn:a+b", "m%61tch=urn%3Aa%26b", "match", "a=1&&b=2&a=3", "x=%zz", "x=%4", "x=a;b", "=v", "%E2%82%AC=%FF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := parseForm(s)
		want, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		if !maps.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("parseForm(%q) = %v, url.ParseQuery = %v", s, got, want)
		}
		if strings.Contains(s, ";") {
			t.Fatalf("url.ParseQuery accepted a ';' in %q", s)
		}
	})
}
