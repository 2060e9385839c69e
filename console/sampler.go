package console

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

// Metric names read from Config.Metrics (mercure registers them).
const (
	metricPublished  = "ssehub_updates_published_total"
	metricDelivered  = "ssehub_updates_delivered_total"
	metricReplayed   = "ssehub_updates_replayed_total"
	metricReplays    = "ssehub_replays_total"
	metricSlow       = "ssehub_slow_consumer_disconnects_total"
	metricBytes      = "ssehub_bytes_written_total"
	metricWriteDelay = "ssehub_write_delay_seconds"
)

// healthTimeout bounds one store check.
const healthTimeout = 2 * time.Second

// Sample is what the console shows of one Interval. Rates are per second
// over the interval; times are in milliseconds.
type Sample struct {
	Time        int64   `json:"t"` // Unix milliseconds
	Subscribers int     `json:"subscribers"`
	Published   float64 `json:"published"`
	Delivered   float64 `json:"delivered"`
	Replayed    float64 `json:"replayed"`
	Bytes       float64 `json:"bytes"`
	// Slow and Replays count the interval's slow-consumer disconnects and
	// replays.
	Slow    float64 `json:"slow"`
	Replays float64 `json:"replays"`
	Totals  Totals  `json:"totals"`
	// DelayP50 and DelayP99 are quantiles of the interval's write delays;
	// nil when nothing was written.
	DelayP50 *float64 `json:"delayP50"`
	DelayP99 *float64 `json:"delayP99"`
	// Delay counts the interval's writes per bucket of Hello.Buckets (the
	// last one is +Inf).
	Delay        []uint64   `json:"delay"`
	StoreOK      bool       `json:"storeOK"`
	StoreError   string     `json:"storeError,omitempty"`
	StoreLatency float64    `json:"storeLatency"`
	Nodes        []hub.Node `json:"nodes"`
	// NodesError says why the other nodes could not be listed.
	NodesError string `json:"nodesError,omitempty"`
}

// Totals are the counters since this node started.
type Totals struct {
	Published uint64 `json:"published"`
	Delivered uint64 `json:"delivered"`
	Replays   uint64 `json:"replays"`
	Slow      uint64 `json:"slow"`
	Bytes     uint64 `json:"bytes"`
}

// Hello is the first event of the console's stream: who this node is, what
// the page can do, and the samples of the chart window so far.
type Hello struct {
	Node     string    `json:"node"`
	Addr     string    `json:"addr"`
	Shared   bool      `json:"shared"` // the store lists the nodes sharing it
	Interval int64     `json:"interval"`
	Publish  bool      `json:"publish"` // the publish form works
	Streams  bool      `json:"streams"` // resumable streams can be listed
	Buckets  []float64 `json:"buckets"` // write-delay bucket bounds, ms
	Samples  []Sample  `json:"samples"`
}

// counters are the cumulative figures a sample is the difference of.
type counters struct {
	at                                                   time.Time
	published, delivered, replayed, replays, slow, bytes uint64
	delay                                                []uint64 // cumulative count per bucket
}

// sampler takes a Sample every Interval and hands it to the console's
// streams.
type sampler struct {
	cfg      Config
	log      *slog.Logger
	presence hub.Presence // nil when the store is this node's alone
	max      int          // samples kept

	mu      sync.Mutex
	buckets []float64 // ms, without +Inf
	prev    *counters
	ring    []Sample
	subs    map[chan []byte]struct{}
}

func newSampler(cfg Config, log *slog.Logger) *sampler {
	s := &sampler{cfg: cfg, log: log, max: int(cfg.Window / cfg.Interval), subs: map[chan []byte]struct{}{}}
	s.presence, _ = cfg.Hub.Store().(hub.Presence)
	s.prev = s.read() // also learns the delay buckets before any page asks
	return s
}

// run samples until ctx ends.
func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.publish(s.take(ctx))
	}
}

// read returns the hub's counters now.
func (s *sampler) read() *counters {
	st := s.cfg.Hub.Stats()
	c := &counters{at: time.Now(), published: st.Published, delivered: st.Delivered, replayed: st.Replayed,
		replays: st.Replays, slow: st.SlowConsumers}
	if s.cfg.Metrics == nil {
		return c
	}
	fams, err := s.cfg.Metrics.Gather()
	if err != nil {
		s.log.Warn("console: reading metrics", "err", err)
	}
	for _, f := range fams {
		switch f.GetName() {
		case metricBytes:
			c.bytes = counterValue(f)
		case metricPublished:
			c.published = counterValue(f)
		case metricDelivered:
			c.delivered = counterValue(f)
		case metricReplayed:
			c.replayed = counterValue(f)
		case metricReplays:
			c.replays = counterValue(f)
		case metricSlow:
			c.slow = counterValue(f)
		case metricWriteDelay:
			if len(f.GetMetric()) == 0 {
				continue
			}
			h := f.GetMetric()[0].GetHistogram()
			bounds := make([]float64, 0, len(h.GetBucket()))
			for _, b := range h.GetBucket() {
				if math.IsInf(b.GetUpperBound(), 1) {
					continue
				}
				bounds = append(bounds, b.GetUpperBound()*1000)
				c.delay = append(c.delay, b.GetCumulativeCount())
			}
			c.delay = append(c.delay, h.GetSampleCount())
			s.mu.Lock()
			if !slices.Equal(s.buckets, bounds) {
				s.buckets = bounds
			}
			s.mu.Unlock()
		}
	}
	return c
}

func counterValue(f *dto.MetricFamily) uint64 {
	var v float64
	for _, m := range f.GetMetric() {
		v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return uint64(v)
}

// take reads the hub, the store and the nodes, and returns the sample of
// the interval since the previous one.
func (s *sampler) take(ctx context.Context) Sample {
	cur := s.read()
	prev := s.prev
	s.prev = cur
	secs := cur.at.Sub(prev.at).Seconds()
	rate := func(a, b uint64) float64 {
		if b < a || secs <= 0 {
			return 0
		}
		return float64(b-a) / secs
	}
	sm := Sample{
		Time:        cur.at.UnixMilli(),
		Subscribers: s.cfg.Hub.Stats().Subscribers,
		Published:   rate(prev.published, cur.published),
		Delivered:   rate(prev.delivered, cur.delivered),
		Replayed:    rate(prev.replayed, cur.replayed),
		Bytes:       rate(prev.bytes, cur.bytes),
		Slow:        float64(cur.slow - min(prev.slow, cur.slow)),
		Replays:     float64(cur.replays - min(prev.replays, cur.replays)),
		Totals: Totals{Published: cur.published, Delivered: cur.delivered, Replays: cur.replays,
			Slow: cur.slow, Bytes: cur.bytes},
	}
	if len(cur.delay) > 0 && len(cur.delay) == len(prev.delay) {
		sm.Delay = make([]uint64, len(cur.delay))
		var prevCum, curCum uint64
		for i := range cur.delay {
			sm.Delay[i] = (cur.delay[i] - min(prev.delay[i], cur.delay[i])) - (curCum - min(prevCum, curCum))
			prevCum, curCum = prev.delay[i], cur.delay[i]
		}
		s.mu.Lock()
		bounds := s.buckets
		s.mu.Unlock()
		sm.DelayP50 = quantile(0.5, bounds, sm.Delay)
		sm.DelayP99 = quantile(0.99, bounds, sm.Delay)
	}

	hctx, cancel := context.WithTimeout(ctx, healthTimeout)
	start := time.Now()
	err := s.cfg.Hub.Health(hctx)
	sm.StoreLatency = float64(time.Since(start).Microseconds()) / 1000
	cancel()
	sm.StoreOK = err == nil
	if err != nil {
		sm.StoreError = err.Error()
	}
	sm.Nodes, sm.NodesError = s.nodes(ctx, sm)
	return sm
}

// nodes announces this node, when the store is shared, and lists the nodes
// sharing it; otherwise the only node is this one.
func (s *sampler) nodes(ctx context.Context, sm Sample) ([]hub.Node, string) {
	self := hub.Node{ID: s.cfg.NodeID, Addr: s.cfg.Addr, Subscribers: sm.Subscribers, Seen: time.UnixMilli(sm.Time).UTC()}
	if s.presence == nil {
		return []hub.Node{self}, ""
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	// Announcements last a few intervals, so that one late announcement
	// does not make a node blink out of the list.
	if err := s.presence.Announce(ctx, self, 5*s.cfg.Interval); err != nil {
		return []hub.Node{self}, err.Error()
	}
	nodes, err := s.presence.Nodes(ctx)
	if err != nil {
		return []hub.Node{self}, err.Error()
	}
	return nodes, ""
}

// quantile estimates the q-quantile of counts (per bucket, the last one
// unbounded) by linear interpolation within the bucket, as Prometheus's
// histogram_quantile does; nil when counts are all zero.
func quantile(q float64, bounds []float64, counts []uint64) *float64 {
	var total uint64
	for _, n := range counts {
		total += n
	}
	if total == 0 || len(counts) != len(bounds)+1 {
		return nil
	}
	rank := q * float64(total)
	var cum float64
	for i, n := range counts {
		if cum+float64(n) >= rank && n > 0 {
			if i == len(bounds) { // +Inf: the highest finite bound is all we know
				v := bounds[len(bounds)-1]
				return &v
			}
			lo := 0.0
			if i > 0 {
				lo = bounds[i-1]
			}
			v := lo + (bounds[i]-lo)*(rank-cum)/float64(n)
			return &v
		}
		cum += float64(n)
	}
	return nil
}

// publish keeps sm in the chart window and sends it to every stream.
func (s *sampler) publish(sm Sample) {
	b, err := json.Marshal(sm)
	if err != nil {
		s.log.Warn("console: encoding a sample", "err", err)
		return
	}
	ev, err := (&sse.Event{Type: "sample", Data: string(b)}).AppendTo(nil)
	if err != nil {
		s.log.Warn("console: encoding a sample event", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring = append(s.ring, sm)
	if len(s.ring) > s.max {
		s.ring = slices.Delete(s.ring, 0, len(s.ring)-s.max)
	}
	for ch := range s.subs {
		select {
		case ch <- ev:
		default: // a stream that cannot keep up misses a sample, nobody waits
		}
	}
}

// subscribe returns the hello event and a channel of the sample events
// that follow it; cancel stops them.
func (s *sampler) subscribe(publish bool) (hello Hello, events <-chan []byte, cancel func()) {
	ch := make(chan []byte, 8)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[ch] = struct{}{}
	hello = Hello{Node: s.cfg.NodeID, Addr: s.cfg.Addr, Shared: s.presence != nil,
		Interval: s.cfg.Interval.Milliseconds(), Publish: publish, Streams: s.cfg.Streams != nil, Buckets: s.buckets, Samples: slices.Clone(s.ring)}
	if hello.Samples == nil {
		hello.Samples = []Sample{}
	}
	return hello, ch, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}
}
