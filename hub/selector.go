package hub

import (
	"container/list"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/yosida95/uritemplate/v3"
)

// Defaults of SelectorLimits. Real selectors are URLs with a few variables
// ("https://example.com/books/{id}"); these leave room for long IRIs and
// rich templates while bounding what one selector can cost.
const (
	DefaultMaxSelectorBytes     = 1024
	DefaultMaxSelectorVariables = 16
	DefaultMaxSelectorProgram   = 256
	DefaultSelectorCacheBytes   = 64 << 20
)

// ErrSelectorLimit is wrapped by the errors about a topic selector over
// the Matcher's limits; the HTTP adapter answers 400.
var ErrSelectorLimit = errors.New("hub: topic selector over the limits")

// SelectorLimits bound what one topic selector, and all of them together,
// may cost. A zero field takes its default.
type SelectorLimits struct {
	// MaxBytes bounds the length of a selector. Zero means
	// DefaultMaxSelectorBytes.
	MaxBytes int
	// MaxVariables bounds the variables of a URI template, all its
	// expressions together. Zero means DefaultMaxSelectorVariables.
	MaxVariables int
	// MaxProgram bounds the instructions of a selector's compiled matcher
	// past its literal prefix: a match costs at most about three times
	// this many steps per rune of the topic, and one per rune once the
	// matcher has seen topics of the same shape. Zero means
	// DefaultMaxSelectorProgram.
	MaxProgram int
	// CacheBytes bounds the memory of the compiled selectors a Matcher
	// keeps for reuse (those in use by subscriptions are kept by them
	// too). Zero means DefaultSelectorCacheBytes.
	CacheBytes int64
}

func (l SelectorLimits) withDefaults() SelectorLimits {
	setDefault(&l.MaxBytes, DefaultMaxSelectorBytes)
	setDefault(&l.MaxVariables, DefaultMaxSelectorVariables)
	setDefault(&l.MaxProgram, DefaultMaxSelectorProgram)
	setDefault(&l.CacheBytes, DefaultSelectorCacheBytes)
	return l
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// CompiledSelector decides which topics match one topic selector. It is
// the seam where a selector syntax plugs into a Matcher's limits and cache:
// URI templates here, URL patterns elsewhere.
type CompiledSelector interface {
	// Match reports whether topic matches. It must be safe for concurrent
	// use and cost time linear in len(topic), whatever the selector was.
	Match(topic string) bool
	// Bytes is an upper bound of the memory the compiled selector holds,
	// charged to the Matcher's cache.
	Bytes() int
}

// SelectorCompiler compiles a selector of one syntax within lim (MaxBytes
// is checked by the Matcher before). Errors about limits wrap
// ErrSelectorLimit.
type SelectorCompiler func(raw string, lim SelectorLimits) (CompiledSelector, error)

// CompileRegexpSelector compiles an RE2 expression anchored at the start
// (^) into a CompiledSelector that matches in one pass over the topic and
// whose program has at most lim.MaxProgram instructions. Another selector
// syntax that translates to regular expressions can use it in its
// SelectorCompiler.
func CompileRegexpSelector(expr string, lim SelectorLimits) (CompiledSelector, error) {
	a, err := newAutomaton(expr, lim.withDefaults().MaxProgram)
	if err != nil {
		return nil, fmt.Errorf("hub: selector pattern: %w", err)
	}
	return a, nil
}

// literal is the compiled selector of a string that is not a template: it
// matches itself only, as the specification says of an invalid template.
type literal string

func (l literal) Match(topic string) bool { return string(l) == topic }
func (l literal) Bytes() int              { return len(l) + 16 }

// compileTemplate is the SelectorCompiler of RFC 6570 URI templates.
func compileTemplate(raw string, lim SelectorLimits) (CompiledSelector, error) {
	if n := templateVariables(raw); n > lim.MaxVariables {
		return nil, fmt.Errorf("%w: the URI template has %d variables, at most %d", ErrSelectorLimit, n, lim.MaxVariables)
	}
	expr, ok := templateRegexp(raw)
	if !ok {
		return literal(raw), nil
	}
	a, err := newAutomaton(expr, lim.MaxProgram)
	if err != nil {
		return nil, fmt.Errorf("hub: URI template: %w", err)
	}
	return a, nil
}

// templateVariables counts the variables of the expressions of a template
// (a comma separates two in one expression), without parsing it.
func templateVariables(raw string) int {
	n, in := 0, false
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '{':
			in = true
			n++
		case '}':
			in = false
		case ',':
			if in {
				n++
			}
		}
	}
	return n
}

// templateRegexp returns the regular expression that matches the
// expansions of the URI template raw, or false when raw is not a valid
// template (or has no variable).
func templateRegexp(raw string) (expr string, ok bool) {
	defer func() {
		if recover() != nil { // the library panics on some odd templates
			expr, ok = "", false
		}
	}()
	t, err := uritemplate.New(raw)
	if err != nil || len(t.Varnames()) == 0 {
		return "", false
	}
	return t.Regexp().String(), true
}

// selector is one compiled topic selector. It is shared by every subscriber
// (and authorization check) that uses the same selector string.
type selector struct {
	raw  string
	star bool
	m    CompiledSelector // nil for "*" and exact selectors

	// The result for the update being dispatched, touched only by the
	// hub's follower: dispatch matches outside its lock and delivers
	// under it.
	evalSeq uint64
	hit     bool
}

// isTemplate reports whether s needs a matcher to match.
func (s *selector) isTemplate() bool { return s.m != nil }

// match reports whether topic matches s: s is "*", s equals topic, or its
// compiled matcher says so.
func (s *selector) match(topic string) bool {
	if s.star || s.raw == topic {
		return true
	}
	return s.m != nil && s.m.Match(topic)
}

// matchAny reports whether any of topics matches s.
func (s *selector) matchAny(topics []string) bool {
	for _, t := range topics {
		if s.match(t) {
			return true
		}
	}
	return false
}

// dispatchMatch is matchAny for the update being dispatched, evaluated
// once per update. Only the hub's follower may call it.
func (s *selector) dispatchMatch(u *Update) bool {
	if s.evalSeq != u.Seq {
		s.hit, s.evalSeq = s.matchAny(u.Topics), u.Seq
	}
	return s.hit
}

// nothing is the compiled selector of a token claim over the limits: it
// matches no topic, so that it grants nothing.
type nothing struct{}

func (nothing) Match(string) bool { return false }
func (nothing) Bytes() int        { return 0 }

// Matcher matches topics against topic selectors (the draft's "topic
// selectors": "*", an exact string, or an RFC 6570 URI template). It
// compiles each distinct selector once, within its limits, to a matcher
// whose cost is linear in the topic's length, and keeps the compiled
// selectors in a cache shared by every subscriber and authorization check,
// bounded in bytes (least recently used first out). A Matcher is safe for
// concurrent use; the zero value has the default limits.
type Matcher struct {
	// Limits bound each selector and the cache. Set before first use.
	Limits SelectorLimits

	mu    sync.Mutex
	lim   SelectorLimits
	init  bool
	sels  map[selKey]*list.Element // of *cached
	lru   list.List                // most recently used first
	bytes int64
}

// selKey identifies a selector in a Matcher's cache: its syntax and text.
type selKey struct{ kind, raw string }

// cached is an entry of a Matcher's cache.
type cached struct {
	key   selKey
	sel   *selector
	bytes int64
}

// selectorOverhead is what a cache entry costs beside its compiled
// selector: the key, the selector, list and map entries.
const selectorOverhead = 256

// limits returns the Matcher's limits, defaults applied.
func (m *Matcher) limits() SelectorLimits {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setup()
	return m.lim
}

func (m *Matcher) setup() {
	if !m.init {
		m.lim, m.init = m.Limits.withDefaults(), true
		m.sels = make(map[selKey]*list.Element)
	}
}

// Compile returns the shared compiled selector of raw in the syntax that
// compile implements (kind names it in the cache), compiling it when it is
// not cached. It refuses raw when it is longer than the limits allow, or
// when compile does; those errors wrap ErrSelectorLimit.
func (m *Matcher) Compile(kind, raw string, compile SelectorCompiler) (CompiledSelector, error) {
	s, err := m.lookup(kind, raw, compile)
	if err != nil {
		return nil, err
	}
	return s.m, nil
}

// get returns the shared compiled selector of the topic selector raw.
func (m *Matcher) get(raw string) (*selector, error) {
	if raw == "*" {
		return &selector{raw: raw, star: true}, nil
	}
	if strings.IndexByte(raw, '{') < 0 {
		// An exact selector: a string comparison, nothing to compile or
		// cache; its length is the only limit.
		if lim := m.limits(); len(raw) > lim.MaxBytes {
			return nil, tooLong(len(raw), lim.MaxBytes)
		}
		return &selector{raw: raw}, nil
	}
	return m.lookup("", raw, compileTemplate)
}

// typed returns the shared compiled selector of t.
func (m *Matcher) typed(t TypedSelector) (*selector, error) {
	switch {
	case t.Raw == "*":
		return &selector{raw: t.Raw, star: true}, nil
	case t.Compile == nil:
		if lim := m.limits(); len(t.Raw) > lim.MaxBytes {
			return nil, tooLong(len(t.Raw), lim.MaxBytes)
		}
		return &selector{raw: t.Raw}, nil
	case t.Kind == "":
		return nil, fmt.Errorf("hub: a typed selector needs a Kind: %q", t.Raw)
	}
	return m.lookup(t.Kind, t.Raw, t.Compile)
}

func tooLong(n, most int) error {
	return fmt.Errorf("%w: it is %d bytes long, at most %d", ErrSelectorLimit, n, most)
}

// lookup finds or compiles raw. It compiles outside the Matcher's lock,
// so that a slow compilation holds up nobody else.
func (m *Matcher) lookup(kind, raw string, compile SelectorCompiler) (*selector, error) {
	key := selKey{kind, raw}
	m.mu.Lock()
	m.setup()
	lim := m.lim
	if e, ok := m.sels[key]; ok {
		m.lru.MoveToFront(e)
		s := e.Value.(*cached).sel
		m.mu.Unlock()
		return s, nil
	}
	m.mu.Unlock()
	if len(raw) > lim.MaxBytes {
		return nil, tooLong(len(raw), lim.MaxBytes)
	}
	cs, err := compile(raw, lim)
	if err != nil {
		return nil, err
	}
	s := &selector{raw: raw, m: cs}
	if _, ok := cs.(literal); ok && kind == "" {
		s.m = nil // an invalid template: an exact selector
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.sels[key]; ok { // compiled meanwhile by another caller
		m.lru.MoveToFront(e)
		return e.Value.(*cached).sel, nil
	}
	c := &cached{key: key, sel: s, bytes: int64(cs.Bytes() + len(kind) + len(raw) + selectorOverhead)}
	m.sels[key] = m.lru.PushFront(c)
	m.bytes += c.bytes
	for m.bytes > lim.CacheBytes && m.lru.Len() > 1 {
		old := m.lru.Remove(m.lru.Back()).(*cached)
		delete(m.sels, old.key)
		m.bytes -= old.bytes
	}
	return s, nil
}

// CacheBytes returns the memory charged to the cache of compiled
// selectors now; it stays within Limits.CacheBytes (one selector may
// exceed it alone).
func (m *Matcher) CacheBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}

// Validate reports whether sel is usable as a topic selector within the
// Matcher's limits; the error wraps ErrSelectorLimit when it is not.
func (m *Matcher) Validate(sel string) error {
	_, err := m.get(sel)
	return err
}

// Match reports whether topic matches selector. A selector over the limits
// matches only itself.
func (m *Matcher) Match(selector, topic string) bool {
	if selector == "*" || selector == topic {
		return true
	}
	if strings.IndexByte(selector, '{') < 0 {
		return false
	}
	s, err := m.get(selector)
	return err == nil && s.match(topic)
}

// MatchAny reports whether any of topics matches any of selectors.
// Selectors over the limits match only themselves.
func (m *Matcher) MatchAny(selectors, topics []string) bool {
	for _, raw := range selectors {
		if raw == "*" {
			return true
		}
		if strings.IndexByte(raw, '{') < 0 { // exact: nothing to compile
			if slices.Contains(topics, raw) {
				return true
			}
			continue
		}
		s, err := m.get(raw)
		if err != nil {
			s = &selector{raw: raw}
		}
		if s.matchAny(topics) {
			return true
		}
	}
	return false
}

// MatchTyped reports whether topic matches t. A selector over the limits
// matches only itself.
func (m *Matcher) MatchTyped(t TypedSelector, topic string) bool {
	sel, err := m.typed(t)
	if err != nil {
		return t.Raw == topic
	}
	return sel.match(topic)
}

// ValidateSelector reports whether sel is usable as a topic selector: any
// string within the default limits is, but one that contains '{' and is not
// a valid URI template only ever matches itself, which is almost always a
// mistake worth reporting. Matcher.Validate checks a Matcher's own limits.
func ValidateSelector(sel string) error {
	if len(sel) > DefaultMaxSelectorBytes {
		return tooLong(len(sel), DefaultMaxSelectorBytes)
	}
	if strings.IndexByte(sel, '{') >= 0 && sel != "*" {
		if _, ok := templateRegexp(sel); !ok {
			return fmt.Errorf("hub: topic selector %q is not a valid URI template", sel)
		}
	}
	return nil
}
