package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// The histogram buckets values (nanoseconds) by their top subBits+1
// significant bits: values below 2^(subBits+1) have a bucket each, and above
// that every power of two is split into 2^subBits buckets, so a bucket's
// width is at most 1/128 of its lower bound (0.8 % precision).
const (
	subBits    = 7
	subCount   = 1 << subBits // buckets per power of two
	maxShift   = 40           // values up to 2^48 ns (about 78 hours)
	numBuckets = (maxShift + 2) * subCount
)

// bucketOf returns the bucket index of v.
func bucketOf(v uint64) int {
	shift := bits.Len64(v) - (subBits + 1)
	if shift <= 0 {
		return int(v)
	}
	if shift > maxShift {
		return numBuckets - 1
	}
	return shift*subCount + int(v>>uint(shift))
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i)
	}
	shift := uint(i/subCount - 1)
	m := uint64(i - int(shift)*subCount)
	return m << shift, (m+1)<<shift - 1
}

// Histogram counts durations in nanoseconds in log-scaled buckets. Record is
// safe for concurrent use and does not allocate; it is spread over shards so
// that many goroutines recording at once rarely touch the same cache lines.
type Histogram struct {
	shards []histShard
}

type histShard struct {
	counts [numBuckets]atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Uint64
	min    atomic.Uint64 // stored as ^min so that zero means "none"
}

// NewHistogram returns an empty Histogram with the given number of shards
// (at least one).
func NewHistogram(shards int) *Histogram {
	return &Histogram{shards: make([]histShard, max(shards, 1))}
}

// Record adds the value v (nanoseconds) to shard hint modulo the number of
// shards; callers pass something stable per goroutine, such as its index.
func (h *Histogram) Record(hint int, v int64) {
	if v < 0 {
		v = 0
	}
	s := &h.shards[uint(hint)%uint(len(h.shards))]
	u := uint64(v)
	s.counts[bucketOf(u)].Add(1)
	s.sum.Add(u)
	for {
		old := s.max.Load()
		if u <= old || s.max.CompareAndSwap(old, u) {
			break
		}
	}
	for {
		old := s.min.Load()
		if ^u <= old || s.min.CompareAndSwap(old, ^u) {
			break
		}
	}
}

// Snapshot is a merged copy of a Histogram.
type Snapshot struct {
	Counts []uint64 // per bucket
	Count  uint64
	Sum    uint64
	Min    uint64
	Max    uint64
}

// Snapshot merges the shards into one Snapshot.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Counts: make([]uint64, numBuckets)}
	var inverseMin uint64
	for i := range h.shards {
		sh := &h.shards[i]
		for b := range sh.counts {
			c := sh.counts[b].Load()
			s.Counts[b] += c
			s.Count += c
		}
		s.Sum += sh.sum.Load()
		s.Max = max(s.Max, sh.max.Load())
		inverseMin = max(inverseMin, sh.min.Load())
	}
	if s.Count > 0 {
		s.Min = ^inverseMin
	}
	return s
}

// Quantile returns the value at quantile q (0 to 1): the middle of the bucket
// holding it, clamped to the exact minimum and maximum. It returns 0 for an
// empty snapshot.
func (s Snapshot) Quantile(q float64) uint64 {
	if s.Count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.Count)))
	rank = min(max(rank, 1), s.Count)
	var seen uint64
	for i, c := range s.Counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := lo + (hi-lo)/2
			return min(max(v, s.Min), s.Max)
		}
	}
	return s.Max
}

// Summary is the usual digest of a distribution, in microseconds.
type Summary struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

// Summary digests the snapshot, converting nanoseconds to microseconds.
func (s Snapshot) Summary() Summary {
	us := func(ns uint64) float64 { return float64(ns) / 1e3 }
	out := Summary{Count: s.Count}
	if s.Count == 0 {
		return out
	}
	out.Min, out.Max = us(s.Min), us(s.Max)
	out.Mean = float64(s.Sum) / float64(s.Count) / 1e3
	out.P50, out.P90 = us(s.Quantile(0.50)), us(s.Quantile(0.90))
	out.P99, out.P999 = us(s.Quantile(0.99)), us(s.Quantile(0.999))
	return out
}
