package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Replay modes for Config.Replay.
const (
	// ReplayNone subscribes live: subscribers connect first, then the
	// updates are published.
	ReplayNone = ""
	// ReplayFirst publishes every update first, then subscribes with
	// Last-Event-ID set to the first update's id: each subscriber expects
	// the other Updates-1.
	ReplayFirst = "first"
	// ReplayEarliest publishes every update first, then subscribes with
	// Last-Event-ID "earliest" (the Mercure value for the whole history):
	// each subscriber expects all Updates.
	ReplayEarliest = "earliest"
)

// Protocols for Config.Protocol.
const (
	// ProtocolMercure subscribes to a topic of a Mercure hub and publishes
	// updates to it.
	ProtocolMercure = ""
	// ProtocolDurable reads one Durable Streams stream live over SSE
	// (offset=now&live=sse, or offset=-1 with ReplayEarliest) and appends
	// to it: HubURL is the server's stream root (http://host/v1/stream/),
	// Topic the stream's name, created as text/plain by the run.
	ProtocolDurable = "durable"
)

// Defaults for the zero values of Config.
const (
	DefaultPayload            = 200
	DefaultConnectTimeout     = 30 * time.Second
	DefaultDrainTimeout       = 10 * time.Second
	DefaultTimeout            = 10 * time.Minute
	DefaultConnectConcurrency = 256
	// PortsPerSource is how many connections one loopback source address
	// is given, below the ~28,000 ephemeral ports Linux has by default.
	PortsPerSource = 25000
)

// Config describes one load-generator run.
type Config struct {
	// Protocol is ProtocolMercure or ProtocolDurable.
	Protocol string
	// HubURL is the hub's URL, e.g. http://127.0.0.1:8080/.well-known/mercure,
	// or for ProtocolDurable the stream root, http://127.0.0.1:8080/v1/stream/.
	HubURL string
	// Topic is the topic to publish and subscribe to (the stream's name
	// for ProtocolDurable); empty picks one unique to the run.
	Topic string
	// Subscribers is how many subscribers read the stream and are measured.
	Subscribers int
	// Slow is how many extra subscribers connect but never read.
	Slow int
	// Updates is how many updates to publish.
	Updates int
	// Rate is the publishing rate in updates per second; zero publishes as
	// fast as the hub accepts them (one request at a time).
	Rate float64
	// Payload is the size of each update's data in bytes (DefaultPayload
	// when zero). Smaller than the unpadded JSON (about 40 bytes) means no
	// padding.
	Payload int
	// Replay is ReplayNone, ReplayFirst or ReplayEarliest.
	Replay string
	// Draft is the version of the Mercure protocol the subscribers speak:
	// "07" or "" (draft-dunglas-mercure-07: topic=, Last-Event-ID header)
	// or "08" (draft-dunglas-mercure-08: match=, last_event_id=, and the
	// hub must answer a replay with Mercure-Last-Event-ID). Publishing is
	// the same form in both.
	Draft string
	// SourceAddrs is how many loopback source addresses (127.0.0.1,
	// 127.0.0.2, …) the subscribers are spread over when the hub is on an
	// IPv4 loopback address; zero picks one per PortsPerSource connections.
	SourceAddrs int
	// PublisherToken and SubscriberToken are sent as bearer tokens; an empty
	// SubscriberToken subscribes anonymously.
	PublisherToken  string
	SubscriberToken string
	// Idle is how long the subscribers stay connected after the barrier
	// before any update is published (to measure idle memory).
	Idle time.Duration
	// ConnectTimeout bounds the wait for every subscriber's response
	// headers; DrainTimeout ends the run when no update has arrived for
	// that long; Timeout bounds the whole run.
	ConnectTimeout time.Duration
	DrainTimeout   time.Duration
	Timeout        time.Duration
	// ConnectConcurrency bounds the connections being opened at once.
	ConnectConcurrency int
	// HTTP2 subscribes over HTTP/2: negotiated over TLS for an https://
	// hub, cleartext with prior knowledge (h2c) for an http:// one.
	HTTP2 bool
	// StreamsPerConn is how many HTTP/2 subscribers share one connection:
	// 1 (the default) gives each its own, as distinct users have; more
	// packs them as one browser's tabs share a connection.
	StreamsPerConn int
	// InsecureSkipVerify accepts any certificate from an https:// hub (a
	// development hub's self-signed one).
	InsecureSkipVerify bool
	// PID, when positive, is the hub's process id: its CPU time and memory
	// are read from /proc before and after.
	PID int
	// MetricsURL, when set, is where the hub serves Prometheus metrics. If
	// they include ssehub's ssehub_write_delay_seconds, the run reports the
	// hub's own share of delivery latency (Result.HubWriteDelay).
	MetricsURL string
	// Progress, when set, is called every ProgressInterval from another
	// goroutine, and once more at the end.
	Progress         func(Progress)
	ProgressInterval time.Duration
}

// Progress is a snapshot of a run in flight.
type Progress struct {
	Phase       string // "publish-history", "connect", "idle", "publish", "drain" or "done"
	Connected   int
	Subscribers int // measured plus slow
	Published   int
	Updates     int
	Delivered   int64 // duplicates included
	Expected    int64
	Elapsed     time.Duration
}

// Result is what a run measured. Its JSON form is the output of
// "ssehub bench -json"; durations are in microseconds unless named
// otherwise.
type Result struct {
	Protocol     string  `json:"protocol,omitempty"` // ProtocolDurable, or empty for Mercure
	Hub          string  `json:"hub"`
	Topic        string  `json:"topic"`
	Subscribers  int     `json:"subscribers"`    // measured subscribers asked for (after the open-files cap)
	Requested    int     `json:"requested"`      // measured subscribers asked for on the command line
	Connected    int     `json:"connected"`      // measured subscribers whose response headers arrived
	ConnectError int     `json:"connect_errors"` // measured subscribers that failed to connect
	Slow         Slow    `json:"slow"`
	Updates      int     `json:"updates"`   // updates to publish
	Published    int     `json:"published"` // updates the hub accepted
	Rate         float64 `json:"rate"`      // asked-for publishing rate, updates/s; 0 = as fast as possible
	PayloadBytes int     `json:"payload_bytes"`
	Replay       string  `json:"replay,omitempty"`
	Draft        string  `json:"draft,omitempty"`
	SourceAddrs  int     `json:"source_addrs"`

	Expected   int64 `json:"expected"`     // distinct deliveries expected: per-subscriber expectation × measured subscribers
	Delivered  int64 `json:"delivered"`    // every update received, duplicates included
	Distinct   int64 `json:"distinct"`     // distinct (subscriber, update) pairs received
	Lost       int64 `json:"lost"`         // expected − distinct
	Duplicated int64 `json:"duplicated"`   // deliveries of an update the subscriber already had
	OutOfOrder int64 `json:"out_of_order"` // deliveries numbered below the highest the subscriber had seen
	Unexpected int64 `json:"unexpected"`   // events that are not this run's updates
	Complete   int   `json:"complete_subscribers"`
	StreamErrs int   `json:"stream_errors"` // measured streams that ended before the run did

	PublishSeconds     float64 `json:"publish_seconds"`      // first publish to last publish accepted
	DeliverySeconds    float64 `json:"delivery_seconds"`     // first publish (or replay connect) to last delivery
	DeliveredPerSecond float64 `json:"delivered_per_second"` // delivered / delivery_seconds
	PublishedPerSecond float64 `json:"published_per_second"`

	LatencyUS Summary `json:"latency_us"` // send timestamp to receipt, per delivery
	ConnectUS Summary `json:"connect_us"` // dial to response headers, per measured subscriber

	HubProcess    *HubProcess `json:"hub_process,omitempty"`
	HubWriteDelay *WriteDelay `json:"hub_write_delay,omitempty"`
	Generator     *Generator  `json:"generator,omitempty"`
	OpenFiles     OpenFiles   `json:"open_files"`

	// Stop says why the run ended: "complete" (every subscriber has every
	// update), "ended" (every stream is complete, failed or was ended by the
	// hub), "drain-timeout", "timeout" or "canceled".
	Stop          string   `json:"stop"`
	Errors        []string `json:"errors,omitempty"`
	ElapsedSecond float64  `json:"elapsed_seconds"`

	latency Snapshot
}

// Slow reports the subscribers that connect but never read.
type Slow struct {
	Subscribers int `json:"subscribers"`
	Connected   int `json:"connected"`
}

// HubProcess is the hub's CPU time and memory, read from /proc.
type HubProcess struct {
	PID int `json:"pid"`
	// CPUSeconds is the hub's CPU time (user+system) during the measured
	// phase: from the barrier (or, for replay runs, from just before the
	// subscribers connect) to the end of the drain.
	CPUSeconds       float64 `json:"cpu_seconds"`
	CPUPerDeliveryUS float64 `json:"cpu_per_delivery_us"` // CPUSeconds / delivered, in µs
	RSSStartBytes    int64   `json:"rss_start_bytes"`     // before any subscriber connected
	RSSReadyBytes    int64   `json:"rss_ready_bytes"`     // every subscriber connected (after -idle)
	RSSEndBytes      int64   `json:"rss_end_bytes"`       // after the drain, subscribers still connected
	// RSSPerSubscriberB is (ready − start) / connected subscribers, slow
	// ones included; for replay runs the base is read after the history
	// was published rather than at the start.
	RSSPerSubscriberB float64 `json:"rss_per_subscriber_bytes"`
}

// Latency returns the merged latency histogram of the measured subscribers,
// in nanoseconds.
func (r *Result) Latency() Snapshot { return r.latency }

// run is the state of one Run.
type run struct {
	cfg      Config
	hub      *url.URL
	runID    string
	topic    string
	first    int // lowest sequence number a subscriber expects
	sources  []net.IP
	subs     []*subscriber
	h2       []*http.Transport // HTTP2: one per StreamsPerConn subscribers
	latency  *Histogram
	connect  *Histogram
	start    time.Time
	pubStart atomic.Int64 // Unix nanos of the first publish
	pubEnd   atomic.Int64
	// connectStart is when the first subscriber started to connect (Unix
	// nanos): replay runs measure delivery from there.
	connectStart atomic.Int64
	pubCount     atomic.Int64

	connected atomic.Int64 // all subscribers, slow included
	finished  atomic.Int64 // measured subscribers complete or ended
	completed atomic.Int64 // measured subscribers with every expected update
	phase     atomic.Value // string

	errMu  sync.Mutex
	errors []string
}

// maxErrors bounds the error messages a Result keeps.
const maxErrors = 10

func (r *run) addError(format string, args ...any) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if len(r.errors) < maxErrors {
		r.errors = append(r.errors, fmt.Sprintf(format, args...))
	}
}

// validate fills in defaults and checks cfg.
func (c *Config) validate() error {
	switch {
	case c.HubURL == "":
		return errors.New("no hub URL")
	case c.Subscribers < 0, c.Slow < 0, c.Updates < 0, c.Rate < 0, c.Payload < 0, c.SourceAddrs < 0, c.Idle < 0:
		return errors.New("subscribers, slow, updates, rate, payload, source-addrs and idle must not be negative")
	case c.SourceAddrs > 254:
		return fmt.Errorf("%d source addresses: at most 254 (127.0.0.1 to 127.0.0.254)", c.SourceAddrs)
	case c.Replay != ReplayNone && c.Replay != ReplayFirst && c.Replay != ReplayEarliest:
		return fmt.Errorf("replay %q: want %q, %q or nothing", c.Replay, ReplayFirst, ReplayEarliest)
	case c.Draft != "" && c.Draft != "07" && c.Draft != "08":
		return fmt.Errorf("draft %q: want 07 or 08", c.Draft)
	case c.Protocol != ProtocolMercure && c.Protocol != ProtocolDurable:
		return fmt.Errorf("protocol %q: want %q or nothing", c.Protocol, ProtocolDurable)
	case c.Protocol == ProtocolDurable && c.Replay == ReplayFirst:
		return errors.New("replay from the first update: Durable Streams replay from the start (earliest) only")
	case c.Replay == ReplayFirst && c.Updates < 1:
		return errors.New("replay from the first update needs at least one update")
	case c.Updates > 1<<30:
		return fmt.Errorf("%d updates: at most %d", c.Updates, 1<<30)
	}
	if c.Payload == 0 {
		c.Payload = DefaultPayload
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ConnectConcurrency <= 0 {
		c.ConnectConcurrency = DefaultConnectConcurrency
	}
	if c.StreamsPerConn < 0 {
		return errors.New("streams per connection must not be negative")
	}
	if c.StreamsPerConn == 0 {
		c.StreamsPerConn = 1
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = 200 * time.Millisecond
	}
	return nil
}

// Run runs the load described by cfg against a hub and returns what it
// measured. It stops by itself: after every subscriber has every update,
// after DrainTimeout without any delivery, after Timeout, or when ctx ends.
// A Result is returned whenever the run started, also with an error (for
// example when the hub refused to publish).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	hub, err := url.Parse(cfg.HubURL)
	if err != nil {
		return nil, fmt.Errorf("hub URL %q: %w", cfg.HubURL, err)
	}
	if hub.Scheme != "http" && hub.Scheme != "https" || hub.Host == "" {
		return nil, fmt.Errorf("hub URL %q: want http:// or https:// and a host", cfg.HubURL)
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	r := &run{
		cfg:     cfg,
		hub:     hub,
		runID:   hex.EncodeToString(id[:]),
		latency: NewHistogram(64),
		connect: NewHistogram(16),
		start:   time.Now(),
	}
	r.topic = cfg.Topic
	switch {
	case r.topic != "":
	case cfg.Protocol == ProtocolDurable:
		r.topic = "bench-" + r.runID
	default:
		r.topic = "urn:ssehub:bench:" + r.runID
	}
	if cfg.Replay == ReplayFirst {
		r.first = 1
	}
	r.sources = sourceAddrs(hub.Hostname(), cfg.SourceAddrs, cfg.Subscribers+cfg.Slow)
	r.phase.Store("connect")
	if cfg.HTTP2 {
		r.h2 = r.newH2Transports()
		defer func() {
			for _, tr := range r.h2 {
				tr.CloseIdleConnections()
			}
		}()
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	stopProgress := r.startProgress()
	res, err := r.execute(ctx)
	stopProgress()
	return res, err
}

// sourceAddrs returns the local addresses to spread n connections over: for
// a hub on an IPv4 loopback address, 127.0.0.1 to 127.0.0.k (k = want, or
// enough for n); otherwise none, and the system picks.
func sourceAddrs(host string, want, n int) []net.IP {
	ip := net.ParseIP(host)
	if host == "localhost" {
		ip = net.IPv4(127, 0, 0, 1)
	}
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return nil
	}
	k := want
	if k == 0 {
		k = min(max((n+PortsPerSource-1)/PortsPerSource, 1), 254)
	}
	ips := make([]net.IP, k)
	for i := range ips {
		ips[i] = net.IPv4(127, 0, 0, byte(i+1))
	}
	return ips
}

// execute runs the phases and assembles the Result.
func (r *run) execute(ctx context.Context) (*Result, error) {
	cfg := r.cfg
	var proc procReadings
	proc.read(r, &proc.start)

	pub := newPublisher(r)
	defer pub.close()
	var pubErr error
	if cfg.Protocol == ProtocolDurable {
		if err := pub.createStream(ctx); err != nil {
			r.addError("%v", err)
			return r.result("failed", &proc), err
		}
	}
	if cfg.Replay != ReplayNone {
		r.phase.Store("publish-history")
		pubErr = pub.publishAll(ctx)
		proc.readMeasureFrom(ctx, r, pub.client, &proc.measureFrom)
	}

	// Connect every subscriber and wait for the barrier: each has its
	// response headers, or has failed.
	r.phase.Store("connect")
	subCtx, stopSubs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSubs()
	var live, headers sync.WaitGroup
	sem := make(chan struct{}, cfg.ConnectConcurrency)
	total := cfg.Subscribers + cfg.Slow
	r.subs = make([]*subscriber, total)
	for i := range total {
		s := &subscriber{index: i, slow: i >= cfg.Subscribers, tr: newTracker(r.first, cfg.Updates)}
		r.subs[i] = s
		live.Add(1)
		headers.Add(1)
		go func() {
			defer live.Done()
			s.run(subCtx, r, sem, headers.Done)
		}()
	}
	barrier := make(chan struct{})
	go func() { headers.Wait(); close(barrier) }()
	select {
	case <-barrier:
	case <-ctx.Done():
	}

	if cfg.Idle > 0 && ctx.Err() == nil {
		r.phase.Store("idle")
		t := time.NewTimer(cfg.Idle)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	if cfg.Replay != ReplayNone {
		proc.read(r, &proc.ready)
	} else {
		proc.readMeasureFrom(ctx, r, pub.client, &proc.ready)
		proc.measureFrom = proc.ready
		if ctx.Err() == nil {
			r.phase.Store("publish")
			pubErr = pub.publishAll(ctx)
		}
	}

	r.phase.Store("drain")
	stop := r.drain(ctx)
	proc.readEnd(context.WithoutCancel(ctx), r, pub.client)
	r.phase.Store("done")
	stopSubs()
	live.Wait()
	<-barrier // every header wait ends once the subscribers have stopped

	res := r.result(stop, &proc)
	if pubErr != nil {
		return res, pubErr
	}
	return res, nil
}

// drain waits until every measured subscriber is complete (or its stream
// ended), until no delivery arrived for DrainTimeout, or until ctx ends, and
// says which.
func (r *run) drain(ctx context.Context) string {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last, lastChange := r.delivered(), time.Now()
	for {
		if int(r.finished.Load()) >= r.cfg.Subscribers {
			if int(r.completed.Load()) >= r.cfg.Subscribers {
				return "complete"
			}
			return "ended" // every stream is complete, failed or ended by the hub
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return "timeout"
			}
			return "canceled"
		case now := <-tick.C:
			if d := r.delivered(); d != last {
				last, lastChange = d, now
			} else if now.Sub(lastChange) >= r.cfg.DrainTimeout {
				return "drain-timeout"
			}
		}
	}
}

// delivered sums the deliveries of the measured subscribers so far.
func (r *run) delivered() int64 {
	var n int64
	for _, s := range r.subs[:r.cfg.Subscribers] {
		n += s.tr.delivered.Load()
	}
	return n
}

// startProgress calls cfg.Progress every interval until the returned
// function is called, which reports once more and waits for the reporter.
func (r *run) startProgress() func() {
	if r.cfg.Progress == nil {
		return func() {}
	}
	return reportEvery(r.cfg.ProgressInterval, func() { r.cfg.Progress(r.progress()) })
}

// reportEvery calls report every interval until the returned function is
// called, which calls it once more and waits for the last call to return.
func reportEvery(interval time.Duration, report func()) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				report()
				return
			case <-t.C:
				report()
			}
		}
	}()
	return func() { close(done); <-exited }
}

func (r *run) progress() Progress {
	p := Progress{
		Phase:       r.phase.Load().(string),
		Connected:   int(r.connected.Load()),
		Subscribers: r.cfg.Subscribers + r.cfg.Slow,
		Published:   int(r.pubCount.Load()),
		Updates:     r.cfg.Updates,
		Expected:    int64(r.cfg.Subscribers) * int64(max(r.cfg.Updates-r.first, 0)),
		Elapsed:     time.Since(r.start),
	}
	// r.subs is set before any later phase is stored: reading it in those
	// phases only is what keeps this goroutine from racing its assignment.
	if p.Phase != "connect" && p.Phase != "publish-history" {
		p.Delivered = r.delivered()
	}
	return p
}

// procReadings are the hub's figures at the points of a run, and the
// generator's own CPU time and the hub's write-delay histogram at the ends
// of the measured phase.
type procReadings struct {
	start, measureFrom, ready, end ProcSample
	failed                         bool

	selfFrom, selfEnd   selfSample
	delayFrom, delayEnd *dto.Histogram
}

// metricsTimeout bounds one read of the hub's metrics.
const metricsTimeout = 5 * time.Second

// readMeasureFrom takes the readings that open the measured phase, the
// hub's into into. The metrics come first: rendering them is not the hub's
// work under test.
func (p *procReadings) readMeasureFrom(ctx context.Context, r *run, client *http.Client, into *ProcSample) {
	p.delayFrom = r.readWriteDelay(ctx, client)
	p.selfFrom = readSelf()
	p.read(r, into)
}

// readEnd takes the readings that close the measured phase.
func (p *procReadings) readEnd(ctx context.Context, r *run, client *http.Client) {
	p.selfEnd = readSelf()
	p.read(r, &p.end)
	if p.delayFrom != nil {
		p.delayEnd = r.readWriteDelay(ctx, client)
	}
}

// readWriteDelay reads the hub's write-delay histogram, if it has one.
func (r *run) readWriteDelay(ctx context.Context, client *http.Client) *dto.Histogram {
	if r.cfg.MetricsURL == "" {
		return nil
	}
	// A hub whose metrics hang must not hold the run.
	ctx, cancel := context.WithTimeout(ctx, metricsTimeout)
	defer cancel()
	h, err := fetchWriteDelay(ctx, client, r.cfg.MetricsURL)
	if err != nil {
		r.addError("%v", err)
	}
	return h
}

// read reads the hub process's figures into into, when the run has its
// PID and no earlier reading failed.
func (p *procReadings) read(r *run, into *ProcSample) {
	if r.cfg.PID <= 0 || p.failed {
		return
	}
	s, err := ReadProc(r.cfg.PID)
	if err != nil {
		p.failed = true
		r.addError("hub process: %v", err)
		return
	}
	*into = s
}

// result assembles the Result once every subscriber has stopped.
func (r *run) result(stop string, proc *procReadings) *Result {
	cfg := r.cfg
	res := &Result{
		Protocol:     cfg.Protocol,
		Hub:          cfg.HubURL,
		Topic:        r.topic,
		Subscribers:  cfg.Subscribers,
		Requested:    cfg.Subscribers,
		Slow:         Slow{Subscribers: cfg.Slow},
		Updates:      cfg.Updates,
		Published:    int(r.pubCount.Load()),
		Rate:         cfg.Rate,
		PayloadBytes: cfg.Payload,
		Replay:       cfg.Replay,
		Draft:        cfg.Draft,
		SourceAddrs:  len(r.sources),
		Expected:     int64(cfg.Subscribers) * int64(max(cfg.Updates-r.first, 0)),
		Stop:         stop,
	}
	var lastDelivery int64
	for _, s := range r.subs {
		if s.slow {
			if s.connected {
				res.Slow.Connected++
			}
			continue
		}
		if s.connected {
			res.Connected++
		} else {
			res.ConnectError++
		}
		t := s.tr
		res.Delivered += t.delivered.Load()
		res.Distinct += t.distinct
		res.Duplicated += t.duplicated
		res.OutOfOrder += t.outOfOrder
		res.Unexpected += t.unexpected
		if t.expected > 0 && t.distinct == int64(t.expected) {
			res.Complete++
		}
		if s.streamErr {
			res.StreamErrs++
		}
		lastDelivery = max(lastDelivery, s.lastDelivery)
	}
	res.Lost = res.Expected - res.Distinct
	if ps, pe := r.pubStart.Load(), r.pubEnd.Load(); ps > 0 && pe >= ps {
		res.PublishSeconds = float64(pe-ps) / 1e9
		if res.PublishSeconds > 0 {
			res.PublishedPerSecond = float64(res.Published) / res.PublishSeconds
		}
	}
	from := r.pubStart.Load()
	if cfg.Replay != ReplayNone {
		from = r.connectStart.Load()
	}
	if from > 0 && lastDelivery > from {
		res.DeliverySeconds = float64(lastDelivery-from) / 1e9
		res.DeliveredPerSecond = float64(res.Delivered) / res.DeliverySeconds
	}
	res.latency = r.latency.Snapshot()
	res.LatencyUS = res.latency.Summary()
	res.ConnectUS = r.connect.Snapshot().Summary()
	if cfg.PID > 0 && !proc.failed {
		h := &HubProcess{
			PID:           cfg.PID,
			CPUSeconds:    proc.end.CPUSeconds - proc.measureFrom.CPUSeconds,
			RSSStartBytes: proc.start.RSSBytes,
			RSSReadyBytes: proc.ready.RSSBytes,
			RSSEndBytes:   proc.end.RSSBytes,
		}
		if res.Delivered > 0 {
			h.CPUPerDeliveryUS = h.CPUSeconds / float64(res.Delivered) * 1e6
		}
		base := proc.start.RSSBytes
		if cfg.Replay != ReplayNone {
			base = proc.measureFrom.RSSBytes
		}
		if n := res.Connected + res.Slow.Connected; n > 0 {
			h.RSSPerSubscriberB = float64(h.RSSReadyBytes-base) / float64(n)
		}
		res.HubProcess = h
	}
	res.Generator = generatorBetween(proc.selfFrom, proc.selfEnd)
	res.HubWriteDelay = writeDelayBetween(proc.delayFrom, proc.delayEnd)
	r.errMu.Lock()
	res.Errors = append([]string(nil), r.errors...)
	r.errMu.Unlock()
	res.ElapsedSecond = time.Since(r.start).Seconds()
	return res
}

// subscribeURL returns the hub URL with the topic selector in the draft's
// parameter (and any query the hub URL already had; for draft-08 the
// replay's last_event_id too), or the stream's live SSE URL.
func (r *run) subscribeURL() *url.URL {
	if r.cfg.Protocol == ProtocolDurable {
		offset := "now"
		if r.cfg.Replay == ReplayEarliest {
			offset = "-1"
		}
		u := r.streamURL()
		u.RawQuery = "offset=" + offset + "&live=sse"
		return u
	}
	u := *r.hub
	q := "topic=" + url.QueryEscape(r.topic)
	if r.cfg.Draft == "08" {
		q = "match=" + url.QueryEscape(r.topic)
		if id := r.replayFrom(); id != "" {
			q += "&last_event_id=" + url.QueryEscape(id)
		}
	}
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	u.RawQuery = q
	if u.Path == "" {
		u.Path = "/"
	}
	return &u
}

// updateID is the id the run gives update n.
func (r *run) updateID(n int) string {
	return "urn:ssehub:bench:" + r.runID + ":" + strconv.Itoa(n)
}

// streamURL is the URL of the run's Durable Streams stream.
func (r *run) streamURL() *url.URL {
	return StreamURL(r.hub, r.topic)
}

// StreamURL is the URL of the stream name under the Durable Streams
// stream root root.
func StreamURL(root *url.URL, name string) *url.URL {
	return root.JoinPath(name)
}
