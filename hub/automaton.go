package hub

import (
	"encoding/binary"
	"errors"
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// automaton decides whether a topic matches an anchored regular expression
// in one pass over the topic. It builds a DFA lazily from the expression's
// program (the subset construction, one state per set of program positions
// the topic can have reached) and keeps at most budget bytes of it, starting
// afresh when full, like RE2's DFA. Unlike Go's regexp, whose backtracking
// or NFA matchers cost up to len(topic) × len(program) steps with captures
// on every match, a warm automaton costs one table look-up per rune, and a
// cold one at most len(program) steps per rune.
type automaton struct {
	prog   *syntax.Prog
	prefix string // every match starts with it: compared, not run
	after  uint32 // the instruction after prefix
	bounds []rune // sorted: the class of r is how many bounds are <= r
	ascii  [128]uint16
	nclass int
	budget int // bytes the DFA's states may hold
	static int // bytes of the program and tables

	mu     sync.Mutex
	states []*dstate
	index  map[string]int32
	used   int
	start  *dstate
	// Scratch space of the subset construction.
	seen               []uint32 // seen[pc] == gen: pc already visited
	gen                uint32
	stack, seeds, ends []uint32
	cur, next, cur2    []uint32
	key                []byte
}

// dstate is one DFA state: the consuming instructions the topic read so far
// can be at, and where it goes on each rune class.
type dstate struct {
	pcs     []uint32 // consuming instructions (sorted)
	matched bool     // Match reached: the topic matches, whatever follows
	final   bool     // the topic matches if it ends here
	next    []int32  // by rune class: index+1 in states, 0 not built yet
}

// Bounds of an automaton's DFA cache, in bytes.
const (
	minDFABudget = 4 << 10
	maxDFABudget = 1 << 20
)

// errUnsupportedRegexp is returned for programs the automaton cannot run:
// unanchored starts, case folding and empty-width assertions other than ^
// and $. URI templates compile to none of these.
var errUnsupportedRegexp = errors.New("unsupported regular expression")

// newAutomaton compiles the regular expression expr (RE2 syntax, anchored
// with ^) and refuses it when its program has more than maxProg
// instructions.
func newAutomaton(expr string, maxProg int) (*automaton, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", expr, err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	if prog.StartCond()&syntax.EmptyBeginText == 0 {
		return nil, fmt.Errorf("%w: not anchored at the start", errUnsupportedRegexp)
	}
	a := &automaton{prog: prog, seen: make([]uint32, len(prog.Inst))}
	a.skipPrefix()
	// The literal prefix costs one comparison, whatever its length.
	if n := len(prog.Inst) - utf8.RuneCountInString(a.prefix); n > maxProg {
		return nil, fmt.Errorf("%w: its matcher has %d instructions past its literal prefix, at most %d", ErrSelectorLimit, n, maxProg)
	}
	bounds := []rune{'\n', '\n' + 1}
	static := len(prog.Inst) * int(unsafe.Sizeof(syntax.Inst{}))
	for _, in := range prog.Inst {
		switch in.Op {
		case syntax.InstEmptyWidth:
			if syntax.EmptyOp(in.Arg)&^(syntax.EmptyBeginText|syntax.EmptyEndText) != 0 {
				return nil, fmt.Errorf("%w: empty-width assertion %v", errUnsupportedRegexp, syntax.EmptyOp(in.Arg))
			}
		case syntax.InstRune, syntax.InstRune1:
			if syntax.Flags(in.Arg)&syntax.FoldCase != 0 {
				return nil, fmt.Errorf("%w: case folding", errUnsupportedRegexp)
			}
			static += len(in.Rune) * 4
			if len(in.Rune) == 1 {
				bounds = append(bounds, in.Rune[0], in.Rune[0]+1)
				continue
			}
			for i := 0; i+1 < len(in.Rune); i += 2 {
				bounds = append(bounds, in.Rune[i], in.Rune[i+1]+1)
			}
		}
	}
	slices.Sort(bounds)
	a.bounds = slices.Compact(bounds)
	a.nclass = len(a.bounds) + 1
	for r := range a.ascii {
		a.ascii[r] = uint16(a.classOf(rune(r)))
	}
	static += len(a.bounds)*4 + len(a.seen)*4 + int(unsafe.Sizeof(*a))
	a.static = static
	// Enough for a few dozen states of this program; the states of a
	// template's DFA are few unless it was built to have many.
	// Room for one state per instruction, each of them live in the worst
	// case: a template's DFA has about as many states as its literal
	// runes past the prefix.
	m := len(prog.Inst) - utf8.RuneCountInString(a.prefix)
	a.budget = min(max((m+8)*(a.nclass*4+8*m+128), minDFABudget), maxDFABudget)
	return a, nil
}

// skipPrefix finds the literal runes every match starts with, so that a
// match compares them at once instead of running one DFA state per rune.
func (a *automaton) skipPrefix() {
	var b strings.Builder
	pc := uint32(a.prog.Start)
	for {
		in := &a.prog.Inst[pc]
		switch {
		case in.Op == syntax.InstNop || in.Op == syntax.InstCapture:
		case in.Op == syntax.InstEmptyWidth && syntax.EmptyOp(in.Arg) == syntax.EmptyBeginText && b.Len() == 0:
		case in.Op == syntax.InstRune1 && syntax.Flags(in.Arg)&syntax.FoldCase == 0:
			b.WriteRune(in.Rune[0])
		default:
			a.prefix, a.after = b.String(), pc
			return
		}
		pc = in.Out
	}
}

// Bytes is an upper bound of the memory the automaton holds.
func (a *automaton) Bytes() int { return a.static + a.budget }

// classOf returns the rune class of r.
func (a *automaton) classOf(r rune) int {
	if r >= 0 && r < 128 && a.ascii[r] != 0 {
		return int(a.ascii[r])
	}
	lo, hi := 0, len(a.bounds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a.bounds[m] <= r {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Match reports whether topic matches the expression.
func (a *automaton) Match(topic string) bool {
	ok, _ := a.match(topic)
	return ok
}

// match reports whether topic matches, and how many program instructions
// it visited to decide: at most (runes+1) × len(program) whatever the
// topic, and one look-up per rune once the DFA is built.
func (a *automaton) match(topic string) (ok bool, steps int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rest, ok := strings.CutPrefix(topic, a.prefix)
	if !ok {
		return false, len(a.prefix)
	}
	s := a.start
	if s == nil {
		s = a.build([]uint32{a.after}, a.prefix == "", &steps)
		a.start = s
	}
	for _, r := range rest {
		if s.matched {
			return true, steps
		}
		if len(s.pcs) == 0 {
			return false, steps
		}
		c := a.classOf(r)
		steps++
		if n := s.next[c]; n != 0 {
			s = a.states[n-1]
			continue
		}
		s = a.step(s, c, r, &steps)
	}
	return s.matched || s.final, steps
}

// matches reports whether the consuming instruction in accepts r.
func matches(in *syntax.Inst, r rune) bool {
	switch in.Op {
	case syntax.InstRune1:
		return in.Rune[0] == r
	case syntax.InstRuneAny:
		return true
	case syntax.InstRuneAnyNotNL:
		return r != '\n'
	default:
		return in.MatchRune(r)
	}
}

// step builds the state s goes to on rune r of class c.
func (a *automaton) step(s *dstate, c int, r rune, steps *int) *dstate {
	seeds := a.seeds[:0]
	for _, pc := range s.pcs {
		if in := &a.prog.Inst[pc]; matches(in, r) {
			seeds = append(seeds, in.Out)
		}
	}
	*steps += len(s.pcs)
	a.seeds = seeds
	n := a.build(seeds, false, steps)
	if i, ok := a.index[string(a.key)]; ok && a.states[i] == n {
		s.next[c] = i + 1
	}
	return n
}

// build returns the state of the closure of seeds, adding it to the DFA.
func (a *automaton) build(seeds []uint32, begin bool, steps *int) *dstate {
	st := &dstate{}
	var ends []uint32
	st.pcs, ends, st.matched = a.closure(seeds, begin, false, nil, a.ends[:0], steps)
	a.ends = ends
	slices.Sort(st.pcs)
	st.final = !st.matched && len(ends) > 0 && a.final(ends, begin, steps)
	var flags byte
	if begin {
		flags |= 1
	}
	if st.matched {
		flags |= 2
	}
	if st.final {
		flags |= 4
	}
	key := append(a.key[:0], flags)
	for _, pc := range st.pcs {
		key = binary.LittleEndian.AppendUint32(key, pc)
	}
	a.key = key
	if i, ok := a.index[string(key)]; ok {
		return a.states[i]
	}
	st.next = make([]int32, a.nclass)
	cost := len(key) + len(st.pcs)*4 + a.nclass*4 + 96
	if a.used+cost > a.budget || len(a.states) >= 1<<30 {
		// Full: start afresh. The states in use by a match in progress
		// stay valid; they are only no longer shared.
		clear(a.index)
		a.states, a.used, a.start = a.states[:0], 0, nil
	}
	if a.index == nil {
		a.index = make(map[string]int32)
	}
	a.index[string(key)] = int32(len(a.states))
	a.states = append(a.states, st)
	a.used += cost
	return st
}

// final reports whether the topic matches when it ends after reaching the
// $ assertions ends.
func (a *automaton) final(ends []uint32, begin bool, steps *int) bool {
	_, _, matched := a.closure(ends, begin, true, nil, nil, steps)
	return matched
}

// closure follows every instruction reachable from seeds without consuming
// a rune, and appends to pcs the consuming instructions it reaches and to
// ends the $ assertions (which only the end of the topic satisfies; with
// end set, they are satisfied and no consuming instruction is kept). It
// reports whether it reached Match.
func (a *automaton) closure(seeds []uint32, begin, end bool, pcs, ends []uint32, steps *int) ([]uint32, []uint32, bool) {
	a.gen++
	if a.gen == 0 {
		clear(a.seen)
		a.gen = 1
	}
	matched := false
	stack := append(a.stack[:0], seeds...)
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if a.seen[pc] == a.gen {
			continue
		}
		a.seen[pc] = a.gen
		*steps++
		in := &a.prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, in.Arg, in.Out)
		case syntax.InstCapture, syntax.InstNop:
			stack = append(stack, in.Out)
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(in.Arg)
			if op&syntax.EmptyBeginText != 0 && !begin {
				continue
			}
			if op&syntax.EmptyEndText != 0 && !end {
				ends = append(ends, pc)
				continue
			}
			stack = append(stack, in.Out)
		case syntax.InstFail:
		case syntax.InstMatch:
			matched = true
		default: // consumes a rune
			if !end {
				pcs = append(pcs, pc)
			}
		}
	}
	a.stack = stack[:0]
	return pcs, ends, matched
}
