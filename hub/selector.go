package hub

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/yosida95/uritemplate/v3"
)

// Limits of the matching caches. They bound memory whatever selectors and
// topics clients send: a full cache is cleared and refilled.
const (
	maxTopicCache    = 1024  // topic results cached per selector
	maxSelectorCache = 10000 // compiled selectors shared by a Matcher
)

// selector is one compiled topic selector. It is shared by every subscriber
// (and authorization check) that uses the same selector string, with one
// cache of per-topic results.
type selector struct {
	raw  string
	star bool
	re   *regexp.Regexp // nil when raw is not a URI template with variables

	mu    sync.Mutex
	cache map[string]bool
}

// compileSelector compiles raw. A selector that is not a valid URI template
// still matches by equality, as the specification says.
func compileSelector(raw string) *selector {
	s := &selector{raw: raw, star: raw == "*"}
	if !s.star && strings.IndexByte(raw, '{') >= 0 {
		s.re = templateRegexp(raw)
		if s.re != nil {
			s.cache = make(map[string]bool)
		}
	}
	return s
}

// templateRegexp returns the regexp that matches the expansions of the URI
// template raw, or nil when raw is not a valid template.
func templateRegexp(raw string) (re *regexp.Regexp) {
	defer func() {
		if recover() != nil { // the library panics on some odd templates
			re = nil
		}
	}()
	t, err := uritemplate.New(raw)
	if err != nil {
		return nil
	}
	return t.Regexp()
}

// isTemplate reports whether s needs a template evaluation to match.
func (s *selector) isTemplate() bool { return s.re != nil }

// match reports whether topic matches s: s is "*", s equals topic, or s is a
// URI template that topic matches. Template results are cached per topic.
func (s *selector) match(topic string) bool {
	if s.star || s.raw == topic {
		return true
	}
	if s.re == nil {
		return false
	}
	s.mu.Lock()
	v, ok := s.cache[topic]
	s.mu.Unlock()
	if ok {
		return v
	}
	v = s.re.MatchString(topic)
	s.mu.Lock()
	if len(s.cache) >= maxTopicCache {
		clear(s.cache)
	}
	s.cache[topic] = v
	s.mu.Unlock()
	return v
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

// Matcher matches topics against topic selectors (the draft's "topic
// selectors": "*", an exact string, or an RFC 6570 URI template). It
// compiles each distinct selector once and caches per-topic results, so
// that many subscribers and authorization checks sharing selectors cost one
// template evaluation per distinct (selector, topic) pair. Its memory is
// bounded. A Matcher is safe for concurrent use; the zero value is ready.
type Matcher struct {
	mu   sync.Mutex
	sels map[string]*selector
}

// get returns the shared compiled selector for raw.
func (m *Matcher) get(raw string) *selector {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.sels[raw]; ok {
		return s
	}
	if m.sels == nil || len(m.sels) >= maxSelectorCache {
		m.sels = make(map[string]*selector)
	}
	s := compileSelector(raw)
	m.sels[raw] = s
	return s
}

// Match reports whether topic matches selector.
func (m *Matcher) Match(selector, topic string) bool {
	return m.get(selector).match(topic)
}

// MatchAny reports whether any of topics matches any of selectors.
func (m *Matcher) MatchAny(selectors, topics []string) bool {
	for _, sel := range selectors {
		if m.get(sel).matchAny(topics) {
			return true
		}
	}
	return false
}

// ValidateSelector reports whether sel is usable as a topic selector: any
// string is, but one that contains '{' and is not a valid URI template only
// ever matches itself, which is almost always a mistake worth reporting.
func ValidateSelector(sel string) error {
	if strings.IndexByte(sel, '{') >= 0 && sel != "*" && templateRegexp(sel) == nil {
		return fmt.Errorf("hub: topic selector %q is not a valid URI template", sel)
	}
	return nil
}
