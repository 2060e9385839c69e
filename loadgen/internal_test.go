package loadgen

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

func TestPayload_RoundTripsAndHasTheAskedSize(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		sent     int64
		size     int
		wantSize int
	}{
		{"a 200-byte payload is padded to 200 bytes", 123, 1700000000123456789, 200, 200},
		{"update zero round-trips", 0, 1, 50, 50},
		{"a size below the unpadded form leaves it unpadded", 9, 42, 5, len(`{"n":9,"t":42,"p":""}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendPayload(nil, tt.n, tt.sent, tt.size)
			if len(b) != tt.wantSize {
				t.Errorf("len = %d, want %d: %s", len(b), tt.wantSize, b)
			}
			n, sent, ok := ParsePayload(string(b))
			if !ok || n != tt.n || sent != tt.sent {
				t.Errorf("ParsePayload(%s) = %d, %d, %v", b, n, sent, ok)
			}
		})
	}
}

func TestParsePayload_RefusesWhatIsNotAPayload(t *testing.T) {
	for _, data := range []string{"", "hello", `{"n":}`, `{"n":1}`, `{"n":1,"t":}`, `{"n":-1,"t":5}`, `{"n":99999999999999999999,"t":1}`, `{"t":1,"n":2}`} {
		if _, _, ok := ParsePayload(data); ok {
			t.Errorf("ParsePayload(%q) accepted it", data)
		}
	}
}

func TestTracker_CountsByTheDefinitions(t *testing.T) {
	tests := []struct {
		name                                 string
		first, updates                       int
		received                             []int
		distinct, dup, ooo, unexpected, lost int64
	}{
		{"in order and complete", 0, 5, []int{0, 1, 2, 3, 4}, 5, 0, 0, 0, 0},
		{"a gap is lost", 0, 5, []int{0, 1, 3, 4}, 4, 0, 0, 0, 1},
		{"a repeat right away is a duplicate only", 0, 5, []int{0, 1, 1, 2, 3, 4}, 5, 1, 0, 0, 0},
		{"a late repeat is a duplicate and out of order", 0, 5, []int{0, 1, 2, 1, 3, 4}, 5, 1, 1, 0, 0},
		{"a swap puts one delivery out of order", 0, 5, []int{0, 2, 1, 3, 4}, 5, 0, 1, 0, 0},
		{"numbers outside the run are unexpected", 1, 5, []int{0, 1, 2, 3, 4, 5, 70}, 4, 0, 0, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(tt.first, tt.updates)
			for _, n := range tt.received {
				tr.record(n)
			}
			lost := int64(tr.expected) - tr.distinct
			got := [5]int64{tr.distinct, tr.duplicated, tr.outOfOrder, tr.unexpected, lost}
			want := [5]int64{tt.distinct, tt.dup, tt.ooo, tt.unexpected, tt.lost}
			if got != want {
				t.Errorf("distinct, dup, ooo, unexpected, lost = %v, want %v", got, want)
			}
			if tr.delivered.Load() != int64(len(tt.received)) {
				t.Errorf("delivered = %d, want %d", tr.delivered.Load(), len(tt.received))
			}
		})
	}
}

func TestHistogram_QuantilesAreWithinOnePercent(t *testing.T) {
	h := NewHistogram(4)
	for i := 1; i <= 100000; i++ {
		h.Record(i, int64(i)*1000) // 1 µs to 100 ms, uniform
	}
	s := h.Snapshot()
	if s.Count != 100000 || s.Min != 1000 || s.Max != 100000000 {
		t.Fatalf("count, min, max = %d, %d, %d", s.Count, s.Min, s.Max)
	}
	for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999} {
		want := q * 100000 * 1000
		got := float64(s.Quantile(q))
		if math.Abs(got-want)/want > 0.01 {
			t.Errorf("quantile %.3f = %.0f, want %.0f ± 1%%", q, got, want)
		}
	}
	if sum := s.Summary(); sum.P50 < 49500 || sum.P50 > 50500 || sum.Mean < 50000 || sum.Mean > 50001 {
		t.Errorf("summary = %+v, want p50 ≈ mean ≈ 50000 µs", sum)
	}
}

func TestHistogram_BucketsCoverEveryValueOnce(t *testing.T) {
	prevHi := uint64(0)
	for i := range numBuckets {
		lo, hi := bucketRange(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d = [%d, %d], but bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if i >= 2*subCount && float64(hi-lo+1)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket %d = [%d, %d] is wider than 1/%d of its start", i, lo, hi, subCount)
		}
		prevHi = hi
	}
	if bucketOf(math.MaxUint64) != numBuckets-1 {
		t.Error("the largest value does not land in the last bucket")
	}
}

func TestHistogram_EmptyHasZeroQuantiles(t *testing.T) {
	s := NewHistogram(1).Snapshot()
	if s.Quantile(0.5) != 0 || s.Summary() != (Summary{}) {
		t.Errorf("empty snapshot: quantile %d, summary %+v", s.Quantile(0.5), s.Summary())
	}
}

func TestParseProc_ReadsCPUAndRSS(t *testing.T) {
	stat := "4242 (ssehub (a) b) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 12 0 1234 5000000 1000\n"
	cpu, err := parseStatCPU([]byte(stat))
	if err != nil || cpu != 3.0 {
		t.Errorf("parseStatCPU = %v, %v; want 3 s (300 ticks)", cpu, err)
	}
	if _, err := parseStatCPU([]byte("4242 ssehub S")); err == nil {
		t.Error("parseStatCPU accepted a line without the command name")
	}
	rss, err := parseStatusRSS([]byte("Name:\tssehub\nVmPeak:\t  9000 kB\nVmRSS:\t    1536 kB\nThreads:\t5\n"))
	if err != nil || rss != 1536*1024 {
		t.Errorf("parseStatusRSS = %d, %v; want 1536 KiB", rss, err)
	}
	if _, err := parseStatusRSS([]byte("Name:\tx\n")); err == nil || !strings.Contains(err.Error(), "VmRSS") {
		t.Errorf("parseStatusRSS without VmRSS: err = %v", err)
	}
}

func TestSourceAddrs_SpreadsLoopbackConnections(t *testing.T) {
	tests := []struct {
		name      string
		host      string
		want, n   int
		wantCount int
	}{
		{"a few connections use one address", "127.0.0.1", 0, 100, 1},
		{"sixty thousand connections use three", "127.0.0.1", 0, 60000, 3},
		{"an explicit count wins", "localhost", 5, 10, 5},
		{"a non-loopback hub lets the system choose", "192.0.2.1", 0, 60000, 0},
		{"an IPv6 loopback hub lets the system choose", "::1", 0, 60000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sourceAddrs(tt.host, tt.want, tt.n); len(got) != tt.wantCount {
				t.Errorf("sourceAddrs = %v, want %d addresses", got, tt.wantCount)
			}
		})
	}
}

// BenchmarkDelivery measures the per-delivery bookkeeping hot path: parse
// the payload, record the latency, update the subscriber's bitset and
// counters.
func BenchmarkDelivery(b *testing.B) {
	const updates = 2000
	payloads := make([]string, updates)
	for i := range payloads {
		payloads[i] = string(AppendPayload(nil, i, 1700000000000000000+int64(i)*1000, 200))
	}
	h := NewHistogram(64)
	trackers := make([]*tracker, 16)
	for i := range trackers {
		trackers[i] = newTracker(0, updates)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tr := trackers[i%len(trackers)]
		n := (i / len(trackers)) % updates
		if n == 0 { // a new round: forget what this subscriber saw
			clear(tr.seen)
			tr.highest, tr.distinct = -1, 0
		}
		n, sent, ok := ParsePayload(payloads[n])
		if !ok {
			b.Fatal("payload does not parse")
		}
		h.Record(i, 1700000000000050000-sent)
		tr.record(n)
	}
}

func TestWriteDelayBetween_TakesQuantilesOfTheDifference(t *testing.T) {
	hist := func(counts ...uint64) *dto.Histogram {
		bounds := []float64{0.001, 0.01, 0.1}
		h := &dto.Histogram{}
		var total uint64
		for i, b := range bounds {
			total += counts[i]
			h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(b), CumulativeCount: proto.Uint64(total)})
		}
		total += counts[3] // beyond the largest bound
		h.SampleCount = proto.Uint64(total)
		return h
	}
	ms := func(v float64) *float64 { return &v }
	tests := []struct {
		name          string
		before, after *dto.Histogram
		want          *WriteDelay
	}{
		{"no metric", nil, nil, nil},
		{"no write during the run", hist(5, 0, 0, 0), hist(5, 0, 0, 0), nil},
		{"writes before the run do not count", hist(1000, 0, 0, 0), hist(1000, 50, 50, 0),
			&WriteDelay{Writes: 100, P50MS: ms(10), P99MS: ms(100), MaxMS: 100}},
		{"all in the first bucket", &dto.Histogram{}, hist(100, 0, 0, 0),
			&WriteDelay{Writes: 100, P50MS: ms(1), P99MS: ms(1), MaxMS: 100}},
		{"a p99 beyond the largest bound is left out", &dto.Histogram{}, hist(90, 0, 0, 10),
			&WriteDelay{Writes: 100, P50MS: ms(1), MaxMS: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := writeDelayBetween(tt.before, tt.after)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %s, want %s", fmtDelay(got), fmtDelay(tt.want))
			}
		})
	}
}

func fmtDelay(d *WriteDelay) string {
	if d == nil {
		return "nil"
	}
	f := func(v *float64) string {
		if v == nil {
			return "nil"
		}
		return strconv.FormatFloat(*v, 'g', -1, 64)
	}
	return fmt.Sprintf("{writes %d p50 %s p99 %s max %g}", d.Writes, f(d.P50MS), f(d.P99MS), d.MaxMS)
}
