package mercure

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

const fuzzBase = "https://hub.example.com/.well-known/mercure"

// FuzzURLPattern compiles any pattern and matches any topic with it: no
// panic escapes, and one match of a topic of at most 1 KiB reports its time
// when it is slow (the hub's cost bound is RE2's linear time).
func FuzzURLPattern(f *testing.F) {
	f.Add("https://example.com/books/:id", "https://example.com/books/1")
	f.Add("/books/:id(\\d+)", "/books/12")
	f.Add("https://example.com/*", "http://[::1")
	f.Add("(.*)*(.*)*(.*)*", strings.Repeat("a", 64))
	f.Add(":a(a+)+:b(a+)+", strings.Repeat("a", 64)+"!")
	compile := urlPatternCompiler(fuzzBase)
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		if len(pattern) > hub.DefaultMaxSelectorBytes || len(topic) > 1024 {
			return
		}
		cs, err := compile(pattern, hub.SelectorLimits{MaxVariables: hub.DefaultMaxSelectorVariables, MaxProgram: hub.DefaultMaxSelectorProgram})
		if err != nil {
			return
		}
		start := time.Now()
		cs.Match(topic)
		if d := time.Since(start); d > time.Second {
			t.Logf("pattern %q on a %d-byte topic took %v", pattern, len(topic), d)
		}
	})
}

// BenchmarkURLPatternWorstCase matches the costliest patterns we could
// build (nested quantifiers and many groups, at the length limit) against
// 1 KiB topics that almost match: RE2 keeps each match linear.
func BenchmarkURLPatternWorstCase(b *testing.B) {
	cases := []struct{ name, pattern, topic string }{
		{"NestedQuantifiers", "https://example.com/:a(a+b?a+b?a+b?a+b?a+)+b", "https://example.com/" + strings.Repeat("a", 1000) + "c"},
		{"RegexpGroupAtTheLimit", "https://example.com/:a(" + strings.Repeat("a?", 60) + "a*)b", "https://example.com/" + strings.Repeat("a", 1000) + "c"},
		{"WildcardsAtTheLimit", "https://example.com/" + strings.Repeat("*-", hub.DefaultMaxSelectorVariables), "https://example.com/" + strings.Repeat("x-", 500)},
		{"WildcardsEverywhere", "*://*:*@*:*/" + strings.Repeat("*", hub.DefaultMaxSelectorVariables-7) + "?*#*", "https://u:p@example.com:8443/" + strings.Repeat("x", 1000) + "?q#f"},
		{"NamedGroupsAtTheLimit", "https://example.com" + namedGroups(hub.DefaultMaxSelectorVariables) + "/end", "https://example.com" + strings.Repeat("/seg", 250)},
		{"Plain", "https://example.com/books/:id", "https://example.com/books/42"},
	}
	compile := urlPatternCompiler(fuzzBase)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			cs, err := compile(c.pattern, hub.SelectorLimits{MaxVariables: hub.DefaultMaxSelectorVariables, MaxProgram: hub.DefaultMaxSelectorProgram})
			if err != nil {
				b.Fatalf("compile %q: %v", c.pattern, err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(c.topic)))
			for b.Loop() {
				cs.Match(c.topic)
			}
		})
	}
}

func namedGroups(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "/:p%d", i)
	}
	return b.String()
}

// TestURLPattern_GroupsOverTheLimitAre400Material: the Matcher's
// MaxVariables bounds the groups of a URL pattern as it bounds a URI
// template's variables.
func TestURLPattern_GroupsOverTheLimitAreRefused(t *testing.T) {
	compile := urlPatternCompiler(fuzzBase)
	over := "https://example.com/" + strings.Repeat("*-", hub.DefaultMaxSelectorVariables+1)
	lim := hub.SelectorLimits{MaxVariables: hub.DefaultMaxSelectorVariables, MaxProgram: hub.DefaultMaxSelectorProgram}
	if _, err := compile(over, lim); !errors.Is(err, hub.ErrSelectorLimit) {
		t.Fatalf("compile(%d wildcards) = %v, want ErrSelectorLimit", hub.DefaultMaxSelectorVariables+1, err)
	}
	big := "https://example.com/:a(" + strings.Repeat("a?", 300) + ")"
	if _, err := compile(big, lim); !errors.Is(err, hub.ErrSelectorLimit) {
		t.Fatalf("compile(a regexp group of 600 instructions) = %v, want ErrSelectorLimit", err)
	}
}
