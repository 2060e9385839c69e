package mercure

import (
	"fmt"
	"regexp/syntax"

	"github.com/dunglas/go-urlpattern"

	"github.com/ssehub/ssehub/hub"
)

// urlPattern is a compiled draft-08 URL Pattern topic matcher (WHATWG URL
// Pattern, github.com/dunglas/go-urlpattern). Its components compile to Go
// regular expressions, RE2: matching costs time linear in the topic's
// length whatever the pattern (draft-08 §"URL Pattern" allows either that
// or a cost limit), and the Matcher bounds the pattern's length.
type urlPattern struct {
	p    *urlpattern.URLPattern
	base string
	size int
}

// Match reports whether topic, resolved against the hub's URL when it is
// relative, matches. A topic that is not a URL reference matches nothing.
func (u *urlPattern) Match(topic string) (ok bool) {
	defer func() {
		if recover() != nil { // a library fault on odd input is a non-match, never a crash
			ok = false
		}
	}()
	return u.p.Test(topic, u.base)
}

// Bytes bounds the memory of the pattern's eight component expressions.
func (u *urlPattern) Bytes() int { return u.size }

// urlPatternCompiler returns the hub.SelectorCompiler of URL patterns
// resolved against base, the hub's URL (draft-08: relative patterns and
// topics are resolved against it).
func urlPatternCompiler(base string) hub.SelectorCompiler {
	return func(raw string, lim hub.SelectorLimits) (cs hub.CompiledSelector, err error) {
		defer func() {
			if r := recover(); r != nil {
				cs, err = nil, fmt.Errorf("URL pattern %q does not compile: %v", raw, r)
			}
		}()
		// RE2 is linear in the topic, but also in the expression: a
		// pattern of a few hundred wildcards costs a hundred milliseconds
		// per match. The groups are what makes an expression large.
		if n := urlPatternGroups(raw); n > lim.MaxVariables {
			return nil, fmt.Errorf("%w: the URL pattern has %d groups (:name, *, (…)), at most %d", hub.ErrSelectorLimit, n, lim.MaxVariables)
		}
		if n := regexpGroupsProgram(raw); n > lim.MaxProgram {
			return nil, fmt.Errorf("%w: the URL pattern's regular-expression groups compile to %d instructions, at most %d", hub.ErrSelectorLimit, n, lim.MaxProgram)
		}
		p, err := urlpattern.New(raw, base, nil)
		if err != nil {
			return nil, fmt.Errorf("not a URL pattern: %w", err)
		}
		// Each of the eight components holds a pattern string and an
		// expression a few times the pattern's size.
		return &urlPattern{p: p, base: base, size: 8*(256+8*len(raw)) + len(base)}, nil
	}
}

// urlPatternGroups counts the groups of a URL pattern: named groups
// (:name), wildcards (*) and regular-expression groups, each escaped
// character aside. It over-counts rather than under-counts (a ':' before a
// port number counts as a group), which only makes the limit stricter.
func urlPatternGroups(raw string) int {
	n := 0
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '\\':
			i++
		case c == '*' || c == '(':
			n++
		case c == ':' && i+1 < len(raw) && (raw[i+1] == '_' || raw[i+1] >= 'A' && raw[i+1] <= 'Z' || raw[i+1] >= 'a' && raw[i+1] <= 'z' || raw[i+1] >= 0x80):
			n++
		}
	}
	return n
}

// regexpGroupsProgram returns the instructions the regular-expression
// groups of a URL pattern compile to, all together (a group that does not
// parse counts as nothing: the pattern's compiler refuses it). Each
// instruction costs a step per character of the topic, so this bounds a
// match's cost.
func regexpGroupsProgram(raw string) int {
	total := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			i++
		case '(':
			depth, j := 1, i+1
			for ; j < len(raw) && depth > 0; j++ {
				switch raw[j] {
				case '\\':
					j++
				case '(':
					depth++
				case ')':
					depth--
				}
			}
			if depth == 0 {
				if re, err := syntax.Parse(raw[i+1:j-1], syntax.Perl); err == nil {
					if prog, err := syntax.Compile(re.Simplify()); err == nil {
						total += len(prog.Inst)
					}
				}
			}
			i = j - 1
		}
	}
	return total
}
