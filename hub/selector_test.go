package hub_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

func TestMatcher_CacheStaysWithinItsBytesAndKeepsRecentSelectors(t *testing.T) {
	const budget = 256 << 10
	m := hub.Matcher{Limits: hub.SelectorLimits{CacheBytes: budget}}
	for i := range 2000 {
		sel := fmt.Sprintf("https://example.com/%d/{id}", i)
		if !m.Match(sel, fmt.Sprintf("https://example.com/%d/x", i)) {
			t.Fatalf("%s did not match", sel)
		}
		if got := m.CacheBytes(); got > budget {
			t.Fatalf("after %d selectors the cache holds %d bytes, over %d", i+1, got, budget)
		}
	}
	if m.CacheBytes() < budget/2 {
		t.Errorf("the cache holds %d bytes: it should fill its budget of %d", m.CacheBytes(), budget)
	}
}

func TestMatcher_OtherSyntaxesShareTheLimitsAndTheCache(t *testing.T) {
	var m hub.Matcher
	compiled := 0
	prefix := func(raw string, lim hub.SelectorLimits) (hub.CompiledSelector, error) {
		compiled++
		return hub.CompileRegexpSelector("^"+strings.TrimSuffix(raw, "*"), lim)
	}
	for range 3 {
		cs, err := m.Compile("prefix", "https://e.com/*", prefix)
		if err != nil {
			t.Fatal(err)
		}
		if !cs.Match("https://e.com/a/b") || cs.Match("https://f.com/") {
			t.Fatal("the compiled prefix pattern matches wrongly")
		}
	}
	if compiled != 1 {
		t.Errorf("compiled %d times, want once", compiled)
	}
	// The same text as a URI template is another entry.
	if m.Match("https://e.com/*", "https://e.com/a") {
		t.Error("a selector of another syntax leaked into URI template matching")
	}
	if _, err := m.Compile("prefix", strings.Repeat("x", hub.DefaultMaxSelectorBytes+1), prefix); !errors.Is(err, hub.ErrSelectorLimit) {
		t.Errorf("an over-long pattern: %v, want ErrSelectorLimit", err)
	}
}

func TestMatcher_SelectorsOverTheLimitsMatchOnlyThemselves(t *testing.T) {
	var m hub.Matcher
	long := "{+a}" + strings.Repeat("a", hub.DefaultMaxSelectorProgram) + "b"
	if err := m.Validate(long); !errors.Is(err, hub.ErrSelectorLimit) {
		t.Fatalf("Validate = %v, want ErrSelectorLimit", err)
	}
	if m.Match(long, "xab") || m.MatchAny([]string{long}, []string{"xab"}) {
		t.Error("a selector over the limits matched another topic")
	}
	if !m.Match(long, long) {
		t.Error("a selector over the limits does not match itself")
	}
}
