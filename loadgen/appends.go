package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// AppendConfig describes a run of appends into Durable Streams: Streams
// streams are created, then Appenders concurrent writers make Appends
// appends in all, spread round-robin over the streams, each one waiting for
// its answer (an append is acknowledged once durable) before the next.
type AppendConfig struct {
	// URL is the server's stream root, e.g. http://127.0.0.1:8080/v1/stream/.
	URL string
	// Streams is how many streams to create and append to (at least 1).
	Streams int
	// Appenders is how many appends are in flight at once (at least 1).
	Appenders int
	// Appends is how many appends to make in all; zero only creates the
	// streams (with PID: the memory per idle stream).
	Appends int
	// Payload is the size of each append (DefaultPayload when zero).
	Payload int
	// PID, when positive, is the server's process id: its CPU time and
	// memory are read from /proc.
	PID int
	// Timeout bounds the whole run (DefaultTimeout when zero).
	Timeout time.Duration
	// Progress, when set, is called every 200 ms from another goroutine
	// and once more at the end: Phase "create" counts streams in
	// Connected of Subscribers, Phase "append" appends in Published of
	// Updates.
	Progress func(Progress)
}

// AppendResult is what an append run measured; its JSON form is the output
// of "ssehub bench -durable … -appenders N -json".
type AppendResult struct {
	URL          string `json:"url"`
	Streams      int    `json:"streams"`
	Created      int    `json:"created"`
	Appenders    int    `json:"appenders"`
	Appends      int    `json:"appends"`
	Appended     int64  `json:"appended"` // appends the server acknowledged
	Failed       int64  `json:"failed"`
	PayloadBytes int    `json:"payload_bytes"`

	CreateSeconds    float64 `json:"create_seconds"`
	AppendSeconds    float64 `json:"append_seconds"`
	AppendsPerSecond float64 `json:"appends_per_second"`
	// LatencyUS is each append's time from request to acknowledgement.
	LatencyUS Summary `json:"latency_us"`

	Server    *AppendProcess `json:"server_process,omitempty"`
	Generator *Generator     `json:"generator,omitempty"`
	// Stop is "complete", "timeout", "canceled" or "failed" (a create
	// was refused, or every appender stopped at a refusal).
	Stop          string   `json:"stop"`
	Errors        []string `json:"errors,omitempty"`
	ElapsedSecond float64  `json:"elapsed_seconds"`

	latency Snapshot
	names   []string
}

// StreamURL returns the URL of the run's stream i (0 ≤ i < Created).
func (r *AppendResult) StreamURL(i int) string { return r.names[i] }

// AppendProcess is the server's CPU time and memory during an append run.
type AppendProcess struct {
	PID int `json:"pid"`
	// CPUSeconds is the server's CPU time while the appends ran.
	CPUSeconds     float64 `json:"cpu_seconds"`
	CPUPerAppendUS float64 `json:"cpu_per_append_us"`
	RSSStartBytes  int64   `json:"rss_start_bytes"`   // before any stream was created
	RSSCreateBytes int64   `json:"rss_created_bytes"` // every stream created, nothing appended
	RSSEndBytes    int64   `json:"rss_end_bytes"`     // after the appends
	// RSSPerStreamB is (created − start) / streams created: the memory of
	// an idle, empty stream.
	RSSPerStreamB float64 `json:"rss_per_stream_bytes"`
}

// Latency returns the histogram of append latencies, in nanoseconds.
func (r *AppendResult) Latency() Snapshot { return r.latency }

// RunAppends runs the appends cfg describes and returns what it measured,
// also (with an error) when a create or an append was refused.
func RunAppends(ctx context.Context, cfg AppendConfig) (*AppendResult, error) {
	switch {
	case cfg.Streams < 1 || cfg.Appenders < 1:
		return nil, fmt.Errorf("%d streams and %d appenders: want at least one of each", cfg.Streams, cfg.Appenders)
	case cfg.Appends < 0 || cfg.Payload < 0:
		return nil, errors.New("appends and payload must not be negative")
	}
	root, err := url.Parse(cfg.URL)
	if err != nil || root.Scheme != "http" && root.Scheme != "https" || root.Host == "" {
		return nil, fmt.Errorf("stream root %q: want an http:// or https:// URL", cfg.URL)
	}
	if cfg.Payload == 0 {
		cfg.Payload = DefaultPayload
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	var id [6]byte
	_, _ = rand.Read(id[:])
	a := &appendRun{cfg: cfg, latency: NewHistogram(64), start: time.Now()}
	a.names = make([]string, cfg.Streams)
	for i := range a.names {
		a.names[i] = StreamURL(root, "bench-"+hex.EncodeToString(id[:])+"-"+strconv.Itoa(i)).String()
	}
	// The run's own requests, as many connections as writers.
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: cfg.Appenders}
	defer tr.CloseIdleConnections()
	a.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	a.phase.Store("create")
	stopProgress := a.startProgress()
	res := a.execute(ctx)
	stopProgress()
	if res.Stop == "failed" {
		return res, errors.New(res.Errors[0])
	}
	return res, nil
}

// appendRun is the state of one RunAppends.
type appendRun struct {
	cfg     AppendConfig
	names   []string // stream URLs
	client  *http.Client
	latency *Histogram
	start   time.Time
	phase   atomic.Value // string

	created, next, appended, failed atomic.Int64
	createFailed                    atomic.Bool

	errMu  sync.Mutex
	errors []string
}

func (a *appendRun) addError(format string, args ...any) {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	if len(a.errors) < maxErrors {
		a.errors = append(a.errors, fmt.Sprintf(format, args...))
	}
}

func (a *appendRun) execute(ctx context.Context) *AppendResult {
	cfg := a.cfg
	res := &AppendResult{names: a.names, URL: cfg.URL, Streams: cfg.Streams, Appenders: cfg.Appenders, Appends: cfg.Appends, PayloadBytes: cfg.Payload}
	var start, created, end ProcSample
	procOK := a.readProc(&start)

	// Create the streams, Appenders at a time.
	began := time.Now()
	a.parallel(ctx, func(ctx context.Context) bool {
		i := int(a.created.Add(1)) - 1
		if i >= cfg.Streams {
			return false
		}
		if err := send(ctx, a.client, "", http.MethodPut, a.names[i], "text/plain", "", http.StatusCreated); err != nil {
			a.addError("creating %s: %v", a.names[i], err)
			a.createFailed.Store(true)
			return false
		}
		return true
	})
	res.Created = int(min(a.created.Load(), int64(cfg.Streams)))
	res.CreateSeconds = time.Since(began).Seconds()
	if a.createFailed.Load() {
		res.Created = 0 // a refusal stops the run; which ones were made is not tracked
		return a.finish(res, "failed")
	}
	procOK = procOK && a.readProc(&created)
	selfFrom := readSelf()

	a.phase.Store("append")
	began = time.Now()
	a.parallel(ctx, func(ctx context.Context) bool {
		n := int(a.next.Add(1)) - 1
		if n >= cfg.Appends {
			return false
		}
		body := string(append(AppendPayload(nil, n, time.Now().UnixNano(), cfg.Payload), '\n'))
		t := time.Now()
		if err := send(ctx, a.client, "", http.MethodPost, a.names[n%cfg.Streams], "text/plain", body, http.StatusNoContent); err != nil {
			if ctx.Err() == nil {
				a.failed.Add(1)
				a.addError("append %d: %v", n, err)
			}
			return false // a refusing server would refuse the rest as well
		}
		a.latency.Record(n, time.Since(t).Nanoseconds())
		a.appended.Add(1)
		return true
	})
	res.AppendSeconds = time.Since(began).Seconds()
	selfEnd := readSelf()
	procOK = procOK && a.readProc(&end)

	res.Appended, res.Failed = a.appended.Load(), a.failed.Load()
	if res.AppendSeconds > 0 {
		res.AppendsPerSecond = float64(res.Appended) / res.AppendSeconds
	}
	res.latency = a.latency.Snapshot()
	res.LatencyUS = res.latency.Summary()
	res.Generator = generatorBetween(selfFrom, selfEnd)
	if procOK && cfg.PID > 0 {
		p := &AppendProcess{PID: cfg.PID, CPUSeconds: end.CPUSeconds - created.CPUSeconds,
			RSSStartBytes: start.RSSBytes, RSSCreateBytes: created.RSSBytes, RSSEndBytes: end.RSSBytes}
		if res.Appended > 0 {
			p.CPUPerAppendUS = p.CPUSeconds / float64(res.Appended) * 1e6
		}
		p.RSSPerStreamB = float64(created.RSSBytes-start.RSSBytes) / float64(res.Created)
		res.Server = p
	}
	stop := "complete"
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		stop = "timeout"
	case ctx.Err() != nil:
		stop = "canceled"
	case res.Failed > 0:
		stop = "failed"
	}
	return a.finish(res, stop)
}

func (a *appendRun) finish(res *AppendResult, stop string) *AppendResult {
	res.Stop = stop
	a.errMu.Lock()
	res.Errors = append([]string(nil), a.errors...)
	a.errMu.Unlock()
	res.ElapsedSecond = time.Since(a.start).Seconds()
	return res
}

// parallel runs step from Appenders goroutines until each one's step
// returns false or ctx ends.
func (a *appendRun) parallel(ctx context.Context, step func(context.Context) bool) {
	var wg sync.WaitGroup
	for range a.cfg.Appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && step(ctx) {
			}
		}()
	}
	wg.Wait()
}

// readProc reads the server's figures into into; false when it cannot.
func (a *appendRun) readProc(into *ProcSample) bool {
	if a.cfg.PID <= 0 {
		return false
	}
	s, err := ReadProc(a.cfg.PID)
	if err != nil {
		a.addError("server process: %v", err)
		return false
	}
	*into = s
	return true
}

func (a *appendRun) startProgress() func() {
	if a.cfg.Progress == nil {
		return func() {}
	}
	return reportEvery(200*time.Millisecond, func() {
		a.cfg.Progress(Progress{
			Phase: a.phase.Load().(string), Connected: int(min(a.created.Load(), int64(a.cfg.Streams))), Subscribers: a.cfg.Streams,
			Published: int(a.appended.Load()), Updates: a.cfg.Appends, Elapsed: time.Since(a.start),
		})
	})
}
