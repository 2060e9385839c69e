package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// subscriber is one subscription's connection and bookkeeping.
type subscriber struct {
	index int
	slow  bool // connects but never reads
	tr    *tracker

	// Written by the subscriber's goroutine, read after it has stopped.
	connected    bool
	streamErr    bool  // the stream ended or failed before the run stopped it
	lastDelivery int64 // Unix nanos of the last update received
}

// run connects, calls headersDone once the response headers have arrived
// (or the connection failed), then reads and accounts for updates until ctx
// ends or the stream does.
func (s *subscriber) run(ctx context.Context, r *run, sem chan struct{}, headersDone func()) {
	once := false
	signal := func() {
		if !once {
			once = true
			headersDone()
		}
	}
	defer signal()
	finished := false
	finish := func() {
		if !finished && !s.slow {
			finished = true
			r.finished.Add(1)
		}
	}
	defer finish()

	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	r.connectStart.CompareAndSwap(0, time.Now().UnixNano())
	began := time.Now()
	conn, body, err := s.connect(ctx, r)
	<-sem
	if err != nil {
		if ctx.Err() == nil {
			r.addError("subscriber %d: %v", s.index, err)
		}
		return
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	s.connected = true
	r.connected.Add(1)
	if !s.slow {
		r.connect.Record(s.index, time.Since(began).Nanoseconds())
	}
	signal()
	if s.slow {
		<-ctx.Done()
		return
	}
	if s.tr.expected == 0 {
		r.completed.Add(1)
		finish()
	}

	p := sse.NewParser(body)
	p.MaxEventBytes = 1 << 20
	for {
		ev, err := p.Next()
		if err != nil {
			if ctx.Err() == nil {
				s.streamErr = true
				if err == io.EOF {
					r.addError("subscriber %d: the hub ended the stream", s.index)
				} else {
					r.addError("subscriber %d: reading the stream: %v", s.index, err)
				}
			}
			return
		}
		now := time.Now().UnixNano()
		if r.cfg.Protocol != ProtocolDurable {
			s.deliver(r, ev.Data, now, finish)
			continue
		}
		// A data event carries every append since the reader's last one,
		// each ended by the newline the publisher put after it; control
		// events carry offsets.
		if ev.Type != "data" {
			continue
		}
		for line := range strings.SplitSeq(ev.Data, "\n") {
			if line != "" {
				s.deliver(r, line, now, finish)
			}
		}
	}
}

// deliver accounts for one update's data received at now.
func (s *subscriber) deliver(r *run, data string, now int64, finish func()) {
	n, sent, ok := ParsePayload(data)
	if !ok {
		s.tr.recordUnexpected()
		return
	}
	s.lastDelivery = now
	r.latency.Record(s.index, now-sent)
	if s.tr.record(n) {
		r.completed.Add(1)
		finish()
	}
}

// connect dials the hub from the subscriber's source address, sends the
// subscription request and reads the response headers, all within
// ConnectTimeout. It returns what ends the subscription (the connection,
// or over HTTP/2 the stream) and the event-stream body.
func (s *subscriber) connect(ctx context.Context, r *run) (io.Closer, io.Reader, error) {
	cfg := r.cfg
	if cfg.HTTP2 {
		return s.connectH2(ctx, r)
	}
	d := net.Dialer{Timeout: cfg.ConnectTimeout}
	if len(r.sources) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: r.sources[s.index%len(r.sources)]}
	}
	addr := r.hub.Host
	if r.hub.Port() == "" {
		port := "80"
		if r.hub.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(r.hub.Hostname(), port)
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}

	// Closing with a reset leaves no TIME_WAIT behind: tens of thousands of
	// subscribers closed at the end of a run would otherwise hold the
	// client ports and slow the next run's connects to a crawl.
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	if r.hub.Scheme == "https" {
		conn = tls.Client(conn, &tls.Config{ServerName: r.hub.Hostname(), NextProtos: []string{"http/1.1"}, InsecureSkipVerify: cfg.InsecureSkipVerify})
	}
	fail := func(err error) (io.Closer, io.Reader, error) {
		conn.Close()
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(cfg.ConnectTimeout))

	u := r.subscribeURL()
	req := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: r.subscribeHeader(), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	bw := bufio.NewWriterSize(conn, 1024)
	if err := req.Write(bw); err != nil {
		return fail(fmt.Errorf("sending the subscription request: %w", err))
	}
	if err := bw.Flush(); err != nil {
		return fail(fmt.Errorf("sending the subscription request: %w", err))
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(fmt.Errorf("reading the response headers: %w", err))
	}
	if err := r.checkSubscribed(resp, u); err != nil {
		return fail(err)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, resp.Body, nil
}

// subscribeHeader is the header of every subscription request.
func (r *run) subscribeHeader() http.Header {
	h := http.Header{}
	h.Set("Accept", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	if r.cfg.SubscriberToken != "" {
		h.Set("Authorization", "Bearer "+r.cfg.SubscriberToken)
	}
	if r.cfg.Protocol == ProtocolDurable {
		return h // the offset is in the URL
	}
	if id := r.replayFrom(); id != "" && r.cfg.Draft != "08" {
		h.Set("Last-Event-ID", id) // draft-08's is in the URL: see subscribeURL
	}
	return h
}

// replayFrom returns the last event ID the subscribers resume after, or
// "" without a replay.
func (r *run) replayFrom() string {
	switch r.cfg.Replay {
	case ReplayFirst:
		return r.updateID(0)
	case ReplayEarliest:
		return "earliest"
	}
	return ""
}

// checkSubscribed tells whether resp starts r's event stream: 200,
// text/event-stream, and for a draft-08 replay the Mercure-Last-Event-ID
// response field the draft requires.
func (r *run) checkSubscribed(resp *http.Response, u *url.URL) error {
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("subscribing to %s: %s: %q", u.Redacted(), resp.Status, msg)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return fmt.Errorf("subscribing to %s: Content-Type %q, want text/event-stream", u.Redacted(), resp.Header.Get("Content-Type"))
	}
	if _, ok := resp.Header["Mercure-Last-Event-Id"]; r.cfg.Protocol != ProtocolDurable && r.cfg.Draft == "08" && r.replayFrom() != "" && !ok {
		return fmt.Errorf("subscribing to %s with last_event_id: no Mercure-Last-Event-ID in the answer (is the hub a draft-08 hub?)", u.Redacted())
	}
	return nil
}

// connectH2 opens the subscription as a stream on the HTTP/2 connection
// the subscriber shares with StreamsPerConn-1 others.
func (s *subscriber) connectH2(ctx context.Context, r *run) (io.Closer, io.Reader, error) {
	u := r.subscribeURL()
	// The stream outlives connect, so its context is cancelled by the
	// returned closer; only the wait for the headers is bounded here.
	streamCtx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(streamCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("subscription request: %w", err)
	}
	req.Header = r.subscribeHeader()
	timer := time.AfterFunc(r.cfg.ConnectTimeout, cancel)
	resp, err := r.h2[s.index/r.cfg.StreamsPerConn%len(r.h2)].RoundTrip(req)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("subscribing over HTTP/2: %w", err)
	}
	if !timer.Stop() {
		resp.Body.Close()
		return nil, nil, fmt.Errorf("subscribing over HTTP/2: no response headers within %s", r.cfg.ConnectTimeout)
	}
	if resp.ProtoMajor != 2 {
		resp.Body.Close()
		cancel()
		return nil, nil, fmt.Errorf("subscribing over HTTP/2: the hub answered over %s", resp.Proto)
	}
	if err := r.checkSubscribed(resp, u); err != nil {
		resp.Body.Close()
		cancel()
		return nil, nil, err
	}
	return closerFunc(func() error { cancel(); return resp.Body.Close() }), resp.Body, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// newH2Transports returns the HTTP/2 transports of the subscribers, one
// per StreamsPerConn of them, each dialling from its share of the source
// addresses.
func (r *run) newH2Transports() []*http.Transport {
	n := (r.cfg.Subscribers + r.cfg.Slow + r.cfg.StreamsPerConn - 1) / r.cfg.StreamsPerConn
	trs := make([]*http.Transport, max(n, 1))
	for i := range trs {
		var p http.Protocols
		if r.hub.Scheme == "https" {
			p.SetHTTP2(true)
		} else {
			p.SetUnencryptedHTTP2(true)
		}
		d := &net.Dialer{Timeout: r.cfg.ConnectTimeout}
		if len(r.sources) > 0 {
			d.LocalAddr = &net.TCPAddr{IP: r.sources[i%len(r.sources)]}
		}
		trs[i] = &http.Transport{
			Protocols:          &p,
			DialContext:        d.DialContext,
			TLSClientConfig:    &tls.Config{InsecureSkipVerify: r.cfg.InsecureSkipVerify},
			DisableCompression: true,
			HTTP2:              &http.HTTP2Config{MaxReceiveBufferPerStream: 1 << 20},
		}
	}
	return trs
}
