package loadgen

import (
	"strconv"
	"sync/atomic"
)

// AppendPayload appends the data of update n sent at sentNanos (Unix
// nanoseconds) to dst, padded with 'x' so that it is size bytes long when
// size is larger than the unpadded form.
func AppendPayload(dst []byte, n int, sentNanos int64, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"n":`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, `,"t":`...)
	dst = strconv.AppendInt(dst, sentNanos, 10)
	dst = append(dst, `,"p":"`...)
	for pad := size - (len(dst) - start) - 2; pad > 0; pad-- {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

// ParsePayload reads the sequence number and send time from data written by
// AppendPayload. It does not allocate; ok is false when data is not such a
// payload.
func ParsePayload(data string) (n int, sentNanos int64, ok bool) {
	const nKey, tKey = `{"n":`, `,"t":`
	if len(data) < len(nKey) || data[:len(nKey)] != nKey {
		return 0, 0, false
	}
	i := len(nKey)
	v, i, ok := parseUint(data, i)
	if !ok || len(data)-i < len(tKey) || data[i:i+len(tKey)] != tKey {
		return 0, 0, false
	}
	t, _, ok := parseUint(data, i+len(tKey))
	if !ok || v > 1<<40 {
		return 0, 0, false
	}
	return int(v), int64(t), true
}

// parseUint parses the decimal digits of s from i and returns the value and
// the index after the last digit.
func parseUint(s string, i int) (uint64, int, bool) {
	start := i
	var v uint64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if i-start >= 19 {
			return 0, i, false
		}
		v = v*10 + uint64(s[i]-'0')
	}
	return v, i, i > start
}

// tracker is one subscriber's bookkeeping. Only the subscriber's goroutine
// writes it; delivered is atomic so that the progress display and the drain
// can read it while it runs.
type tracker struct {
	seen     []uint64 // bitset of sequence numbers received
	first    int      // lowest sequence number expected
	expected int      // how many distinct updates this subscriber should get
	highest  int      // highest sequence number seen, -1 before any

	delivered  atomic.Int64 // every update received, duplicates included
	distinct   int64
	duplicated int64
	outOfOrder int64
	unexpected int64 // events whose data is not a bench payload or out of range
}

// newTracker returns a tracker expecting the sequence numbers first to
// updates-1.
func newTracker(first, updates int) *tracker {
	return &tracker{
		seen:     make([]uint64, (updates+63)/64),
		first:    first,
		expected: max(updates-first, 0),
		highest:  -1,
	}
}

// recordUnexpected accounts for an event that is not one of the run's
// updates.
func (t *tracker) recordUnexpected() {
	t.delivered.Add(1)
	t.unexpected++
}

// record accounts for one received update carrying sequence number n. It
// reports whether the subscriber has now received every expected update.
func (t *tracker) record(n int) bool {
	if n < t.first || n >= len(t.seen)*64 || n-t.first >= t.expected {
		t.recordUnexpected()
		return false
	}
	t.delivered.Add(1)
	if n < t.highest {
		t.outOfOrder++ // a late duplicate counts here too
	} else {
		t.highest = n
	}
	w, bit := n>>6, uint64(1)<<(uint(n)&63)
	if t.seen[w]&bit != 0 {
		t.duplicated++
		return false
	}
	t.seen[w] |= bit
	t.distinct++
	return t.distinct == int64(t.expected)
}
