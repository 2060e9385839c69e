package hub

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// stepBound is the most instructions a match of topic may visit: each rune
// costs one table look-up, plus, when its DFA state is not built yet, one
// pass over the state and two closures of at most the whole program.
func stepBound(a *automaton, topic string) int {
	return (utf8.RuneCountInString(topic) + 1) * (1 + 3*len(a.prog.Inst))
}

// checkAgainstRegexp fails t when the automaton of expr disagrees with Go's
// regexp on topic, or visits more instructions than stepBound.
func checkAgainstRegexp(t *testing.T, a *automaton, expr, topic string) {
	t.Helper()
	want := regexp.MustCompile(expr).MatchString(topic)
	for i := range 2 { // cold, then from the built states
		got, steps := a.match(topic)
		if got != want {
			t.Fatalf("match %d of %q against %q = %v, regexp says %v", i, topic, expr, got, want)
		}
		if bound := stepBound(a, topic); steps > bound {
			t.Fatalf("match %d of %q against %q took %d steps, more than %d", i, topic, expr, steps, bound)
		}
	}
}

func TestAutomaton_AgreesWithRegexpOnTemplates(t *testing.T) {
	cases := []struct{ tmpl, topic string }{
		{"https://e.com/books/{id}", "https://e.com/books/1"},
		{"https://e.com/books/{id}", "https://e.com/books/1/2"},
		{"https://e.com/books/{id}", "https://e.com/books/"},
		{"https://e.com/{+path}", "https://e.com/a/b?c#d"},
		{"https://e.com/{+path}", "https://e.com/a b"},
		{"{?a,b,c}", "?a=1&b=2&c=3"},
		{"{?a,b,c}", "?a=1&c=3"},
		{"{/a*}", "/x/y/z"},
		{"{;a*}", ";a=1;a=2"},
		{"{#frag}", "#x,y"},
		{"{.ext}", ".json"},
		{"https://e.com/caf\u00e9/{id}", "https://e.com/caf\u00e9/7"},
		{"https://e.com/caf\u00e9/{id}", "https://e.com/cafe/7"},
		{"{x}", "%41%4"},
		{"{x}", "%41%42"},
		{"{x}", ""},
		{strings.Repeat("{+a}", 16), strings.Repeat("ab/", 200) + " "},
		{strings.Repeat("{+a}", 16), strings.Repeat("ab/", 200)},
		{"{+a}" + strings.Repeat("a", 300) + "b", strings.Repeat("a", 900) + "b"},
		{"{+a}" + strings.Repeat("a", 300) + "b", strings.Repeat("a", 900) + "c"},
	}
	for _, c := range cases {
		expr, ok := templateRegexp(c.tmpl)
		if !ok {
			t.Fatalf("%q is not a template", c.tmpl)
		}
		a, err := newAutomaton(expr, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstRegexp(t, a, expr, c.topic)
	}
}

func TestAutomaton_RefusesProgramsOverTheLimit(t *testing.T) {
	for _, tmpl := range []string{
		strings.Repeat("{+a}", 300),
		"{+a}" + strings.Repeat("a", DefaultMaxSelectorProgram) + "b",
	} {
		expr, _ := templateRegexp(tmpl)
		if _, err := newAutomaton(expr, DefaultMaxSelectorProgram); !errors.Is(err, ErrSelectorLimit) {
			t.Errorf("newAutomaton of %.20q… = %v, want ErrSelectorLimit", tmpl, err)
		}
	}
	// A long literal prefix costs no instruction.
	expr, _ := templateRegexp(strings.Repeat("a", 2*DefaultMaxSelectorProgram) + "{id}")
	if _, err := newAutomaton(expr, DefaultMaxSelectorProgram); err != nil {
		t.Errorf("a template with a long literal prefix: %v", err)
	}
}

func TestAutomaton_KeepsItsStatesWithinItsBudget(t *testing.T) {
	// Many DFA states: every prefix of the literal after {+a} is one.
	expr, _ := templateRegexp(worstTemplate())
	a, err := newAutomaton(expr, DefaultMaxSelectorProgram)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstRegexp(t, a, expr, strings.Repeat("a", 2000)+"b")
	if a.used > a.budget {
		t.Fatalf("the DFA holds %d bytes, over its budget of %d", a.used, a.budget)
	}
}

// FuzzTemplateMatch checks the matcher of URI templates against Go's
// regexp, and that no template and topic make a match visit more than
// stepBound instructions (a cost measure, not a timing: the time per
// match is BenchmarkMatchWorstCase's).
func FuzzTemplateMatch(f *testing.F) {
	f.Add("https://e.com/{id}", "https://e.com/1")
	f.Add("{+a}{?b,c}{#d}", "/x?b=1#y")
	f.Add("{+a}{+a}{+a}{+a}", "ab/ab/ab/ab/%zz")
	f.Add("{/a*}{;b*}{.c}", "/x/y;b=1.z")
	f.Fuzz(func(t *testing.T, tmpl, topic string) {
		if len(tmpl) > DefaultMaxSelectorBytes || templateVariables(tmpl) > DefaultMaxSelectorVariables {
			return
		}
		expr, ok := templateRegexp(tmpl)
		if !ok {
			return
		}
		a, err := newAutomaton(expr, DefaultMaxSelectorProgram)
		if err != nil {
			if errors.Is(err, ErrSelectorLimit) {
				return
			}
			t.Fatalf("template %q: %v", tmpl, err)
		}
		checkAgainstRegexp(t, a, expr, topic)
	})
}

// FuzzRegexpSelector checks CompileRegexpSelector, the seam other selector
// syntaxes use, against Go's regexp on any anchored expression it accepts.
func FuzzRegexpSelector(f *testing.F) {
	f.Add("a+b", "aab")
	f.Add("(?:x|y)*z$", "xyxz")
	f.Add("[^/]+/(\\d+)$", "ab/12")
	f.Add(".*\\.json$", "a.json\n")
	f.Fuzz(func(t *testing.T, expr, topic string) {
		if len(expr) > 200 {
			return
		}
		expr = "^(?:" + expr + ")"
		if _, err := regexp.Compile(expr); err != nil {
			return
		}
		cs, err := CompileRegexpSelector(expr, SelectorLimits{})
		if err != nil {
			return // over the limits, or an assertion it does not run
		}
		checkAgainstRegexp(t, cs.(*automaton), expr, topic)
	})
}

// worstTemplate is the most expensive URI template the default limits
// allow, as far as we know: as many {+…} expressions as variables allowed
// (each matches any reserved string, so every split of the topic between
// them is live) around the longest literal the program limit leaves, which
// is not a prefix (a prefix is compared, not run) and makes one DFA state
// per rune of it.
func worstTemplate() string {
	for n := DefaultMaxSelectorProgram; n > 0; n-- {
		tmpl := "{+a}" + strings.Repeat("a", n) + strings.Repeat("{+a}", DefaultMaxSelectorVariables-1) + "b"
		if _, err := compileTemplate(tmpl, SelectorLimits{}.withDefaults()); err == nil {
			return tmpl
		}
	}
	panic("no template within the limits")
}

// BenchmarkMatchWorstCase matches worstTemplate against a long topic that
// fails only at its last rune, with the DFA built (warm) and rebuilt at
// every match (cold), and reports the time and instructions per match.
func BenchmarkMatchWorstCase(b *testing.B) {
	tmpl := worstTemplate()
	topic := strings.Repeat("a", 4000) + "c"
	expr, _ := templateRegexp(tmpl)
	for _, warm := range []bool{true, false} {
		name := "Cold"
		if warm {
			name = "Warm"
		}
		b.Run(name, func(b *testing.B) {
			a, err := newAutomaton(expr, DefaultMaxSelectorProgram)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			steps := 0
			for b.Loop() {
				if !warm {
					a.start, a.states = nil, a.states[:0]
					clear(a.index)
					a.used = 0
				}
				ok, n := a.match(topic)
				if ok {
					b.Fatal("matched")
				}
				steps += n
			}
			b.ReportMetric(float64(steps)/float64(b.N), "steps/match")
			b.ReportMetric(float64(len(a.prog.Inst)), "instructions")
			b.ReportMetric(float64(a.Bytes()), "bytes")
		})
	}
}
