package durable_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/store/memory"
)

// liveServer is a Server over a fresh memory store, served on 127.0.0.1.
type liveServer struct {
	s   *durable.Server
	ts  *httptest.Server
	url string // of stream "s"
}

// startLive starts a Server with cfg; tls: over TLS (HTTP/1.1 and HTTP/2);
// sndbuf > 0: accepted connections get that send buffer.
func startLive(t *testing.T, cfg durable.Config, useTLS bool, sndbuf int) *liveServer {
	t.Helper()
	st := memory.NewStreams(memory.StreamsOptions{})
	t.Cleanup(func() { st.Close() })
	cfg.Store = st
	s, err := durable.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	ts := httptest.NewUnstartedServer(mux)
	if sndbuf > 0 {
		ts.Listener = &smallSendBuffer{Listener: ts.Listener, size: sndbuf}
	}
	if useTLS {
		ts.EnableHTTP2 = true
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		ts.Close()
	})
	return &liveServer{s: s, ts: ts, url: ts.URL + s.Prefix() + "s"}
}

// smallSendBuffer gives its connections a small send buffer, so that a
// client that stops reading fills it soon.
type smallSendBuffer struct {
	net.Listener
	size int
}

func (l *smallSendBuffer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// request sends a request with a bounded wait and returns its response;
// client nil: the test server's own.
func (ls *liveServer) request(t *testing.T, client *http.Client, method, url, body string, headers ...string) *http.Response {
	t.Helper()
	if client == nil {
		client = ls.ts.Client()
	}
	return doWith(t, client, 30*time.Second, method, url, body, headers...)
}

func (ls *liveServer) append(t *testing.T, data string, closing bool) {
	t.Helper()
	h := []string{"Content-Type", "text/plain"}
	if closing {
		h = append(h, "Stream-Closed", "true")
	}
	if res := ls.request(t, nil, "POST", ls.url, data, h...); res.StatusCode != http.StatusNoContent {
		t.Fatalf("append: %s", res.Status)
	}
}

// eventually polls cond until it holds or 10 s have passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reading is what an SSE reader got: its data, and how its response ended.
type reading struct {
	data   string
	closed bool  // a control said streamClosed
	end    error // nil: a clean end of body
}

// readSSE parses an SSE body with the sse package until it ends, sending
// the first control on first (if not nil).
func readSSE(body io.Reader, first chan<- struct{}) reading {
	var r reading
	p := sse.NewParser(body)
	for {
		ev, err := p.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.end = err
			}
			return r
		}
		switch ev.Type {
		case "data":
			r.data += ev.Data
		case "control":
			if first != nil {
				close(first)
				first = nil
			}
			var c struct{ StreamClosed bool }
			if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
				r.end = fmt.Errorf("control %q: %w", ev.Data, err)
				return r
			}
			r.closed = r.closed || c.StreamClosed
		}
	}
}

// follow starts readers reading the stream live from offset; each
// returns its reading on its channel when its response ends. follow
// returns once each has had its first control.
func (ls *liveServer) follow(t *testing.T, client *http.Client, n int, offset string) ([]*http.Response, []chan reading) {
	t.Helper()
	var ress []*http.Response
	var chs []chan reading
	for range n {
		res := ls.request(t, client, "GET", ls.url+"?offset="+offset+"&live=sse", "")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET: %s", res.Status)
		}
		ch, first := make(chan reading, 1), make(chan struct{})
		go func() { ch <- readSSE(res.Body, first) }()
		select {
		case <-first:
		case r := <-ch:
			t.Fatalf("the response ended before its first control: %+v", r)
		case <-time.After(10 * time.Second):
			t.Fatal("no first control after 10 s")
		}
		ress, chs = append(ress, res), append(chs, ch)
	}
	return ress, chs
}

// ended waits (10 s at most) for a reader's response to end.
func ended(t *testing.T, ch <-chan reading) reading {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the response did not end within 10 s")
		return reading{}
	}
}

func TestLive_TakenOverReadersGetEveryAppendedByteOnceInOrderThenACleanEnd(t *testing.T) {
	const readers, appends = 50, 200
	ls := startLive(t, durable.Config{}, false, 0)
	ls.request(t, nil, "PUT", ls.url, "first;", "Content-Type", "text/plain")
	ress, chs := ls.follow(t, nil, readers, "-1")
	eventually(t, "every reader taken over", func() bool { return ls.s.Taken() == readers })
	for i, res := range ress {
		if !res.Close { // net/http reads Connection: close into Close
			t.Fatalf("reader %d: the response does not say Connection: close, but its connection ends with it", i)
		}
	}
	want := "first;"
	for i := range appends {
		// Some appends in bursts, so that steps carry several records.
		d := fmt.Sprintf("%d:%s;", i, strings.Repeat("x", i%37))
		want += d
		ls.append(t, d, i == appends-1)
	}
	for i, ch := range chs {
		r := ended(t, ch)
		if r.end != nil || !r.closed {
			t.Fatalf("reader %d: ended with %v, streamClosed %v; want a clean end after streamClosed", i, r.end, r.closed)
		}
		if r.data != want {
			t.Fatalf("reader %d: got %d bytes, want the %d appended:\ngot  %.200q\nwant %.200q", i, len(r.data), len(want), r.data, want)
		}
	}
	eventually(t, "taken-over responses released", func() bool { return ls.s.Taken() == 0 && ls.s.Following() == 0 })
}

func TestLive_TLSAndHTTP2ReadersStayWithTheirHandlerGoroutines(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%v", h2), func(t *testing.T) {
			ls := startLive(t, durable.Config{}, true, 0)
			client := ls.ts.Client()
			if !h2 {
				tr := client.Transport.(*http.Transport).Clone()
				tr.ForceAttemptHTTP2 = false
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
				tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
				client = &http.Client{Transport: tr}
			}
			ls.request(t, client, "PUT", ls.url, "", "Content-Type", "text/plain")
			ress, chs := ls.follow(t, client, 3, "-1")
			for _, res := range ress {
				if res.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] {
					t.Fatalf("response over %s", res.Proto)
				}
				if res.Close {
					t.Fatal("a response that is not taken over says Connection: close")
				}
			}
			for i := range 20 {
				ls.append(t, fmt.Sprintf("%d;", i), false)
			}
			if n := ls.s.Taken(); n != 0 {
				t.Fatalf("%d responses taken over, want none over TLS", n)
			}
			ls.append(t, "end", true)
			for i, ch := range chs {
				r := ended(t, ch)
				if r.end != nil || !r.closed || !strings.HasPrefix(r.data, "0;1;2;") || !strings.HasSuffix(r.data, "19;end") {
					t.Fatalf("reader %d: %+v", i, r)
				}
			}
		})
	}
}

// rawReader is an HTTP/1.1 SSE request on a raw TCP connection with a
// small receive buffer, whose response is not read until resume.
type rawReader struct {
	conn net.Conn
}

func dialRaw(t *testing.T, ls *liveServer, offset string) *rawReader {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	conn, err := d.Dial("tcp", ls.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	path := strings.TrimPrefix(ls.url, ls.ts.URL)
	fmt.Fprintf(conn, "GET %s?offset=%s&live=sse HTTP/1.1\r\nHost: x\r\n\r\n", path, offset)
	return &rawReader{conn: conn}
}

// resume reads the response from now on, returning what it carried.
func (r *rawReader) resume(t *testing.T) <-chan reading {
	ch := make(chan reading, 1)
	r.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	go func() {
		res, err := http.ReadResponse(bufio.NewReader(r.conn), nil)
		if err != nil {
			ch <- reading{end: err}
			return
		}
		ch <- readSSE(res.Body, nil)
	}()
	return ch
}

func TestLive_AReaderThatStopsReadingDoesNotDelayTheOthersAndLosesNothing(t *testing.T) {
	ls := startLive(t, durable.Config{}, false, 8192)
	ls.request(t, nil, "PUT", ls.url, "", "Content-Type", "text/plain")
	stuck := dialRaw(t, ls, "-1")
	eventually(t, "the stuck reader taken over", func() bool { return ls.s.Taken() == 1 })
	_, chs := ls.follow(t, nil, 5, "-1")
	eventually(t, "every reader taken over", func() bool { return ls.s.Taken() == 6 })
	var want strings.Builder
	chunk := strings.Repeat("y", 8000)
	for i := range 100 { // 800 kB: far more than the stuck reader's buffers
		d := fmt.Sprintf("%d:%s;", i, chunk)
		want.WriteString(d)
		ls.append(t, d, i == 99)
	}
	for i, ch := range chs {
		r := ended(t, ch)
		if r.end != nil || !r.closed || r.data != want.String() {
			t.Fatalf("reader %d, beside a stuck one: ended %v, closed %v, %d bytes of %d", i, r.end, r.closed, len(r.data), want.Len())
		}
	}
	r := ended(t, stuck.resume(t))
	if r.end != nil || !r.closed || r.data != want.String() {
		t.Fatalf("the reader that resumed reading: ended %v, closed %v, %d bytes of %d", r.end, r.closed, len(r.data), want.Len())
	}
	eventually(t, "taken-over responses released", func() bool { return ls.s.Taken() == 0 && ls.s.Following() == 0 })
}

func TestLive_ATakenOverResponseEndsCleanlyAfterSSEDuration(t *testing.T) {
	ls := startLive(t, durable.Config{SSEDuration: 300 * time.Millisecond}, false, 0)
	ls.request(t, nil, "PUT", ls.url, "hello", "Content-Type", "text/plain")
	_, chs := ls.follow(t, nil, 3, "-1")
	for i, ch := range chs {
		r := ended(t, ch)
		if r.end != nil || r.closed || r.data != "hello" {
			t.Fatalf("reader %d: %+v, want hello and a clean end without streamClosed", i, r)
		}
	}
	eventually(t, "taken-over responses released", func() bool { return ls.s.Taken() == 0 && ls.s.Following() == 0 })
}

func TestLive_AClientLeavingReleasesTheFollower(t *testing.T) {
	ls := startLive(t, durable.Config{}, false, 0)
	ls.request(t, nil, "PUT", ls.url, "", "Content-Type", "text/plain")
	ress, _ := ls.follow(t, nil, 2, "now")
	eventually(t, "both readers taken over", func() bool { return ls.s.Taken() == 2 && ls.s.Following() == 1 })
	ress[0].Body.Close()
	eventually(t, "the leaving reader released", func() bool { return ls.s.Taken() == 1 })
	if n := ls.s.Following(); n != 1 {
		t.Fatalf("%d followers with one reader left, want 1", n)
	}
	ress[1].Body.Close()
	eventually(t, "the follower stopped after the last reader left", func() bool { return ls.s.Taken() == 0 && ls.s.Following() == 0 })
}

func TestLive_DeletingTheStreamEndsTakenOverResponses(t *testing.T) {
	ls := startLive(t, durable.Config{}, false, 0)
	ls.request(t, nil, "PUT", ls.url, "", "Content-Type", "text/plain")
	_, chs := ls.follow(t, nil, 5, "now")
	eventually(t, "every reader taken over", func() bool { return ls.s.Taken() == 5 })
	ls.append(t, "a", false)
	ls.request(t, nil, "DELETE", ls.url, "")
	for i, ch := range chs {
		if r := ended(t, ch); r.end != nil || r.closed || r.data != "a" {
			t.Fatalf("reader %d: %+v, want a then a clean end", i, r)
		}
	}
	eventually(t, "taken-over responses released", func() bool { return ls.s.Taken() == 0 && ls.s.Following() == 0 })
}

func TestLive_ShutdownEndsTakenOverResponses(t *testing.T) {
	ls := startLive(t, durable.Config{}, false, 0)
	ls.request(t, nil, "PUT", ls.url, "a", "Content-Type", "text/plain")
	_, chs := ls.follow(t, nil, 5, "-1")
	eventually(t, "every reader taken over", func() bool { return ls.s.Taken() == 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ls.s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i, ch := range chs {
		if r := ended(t, ch); r.end != nil || r.data != "a" {
			t.Fatalf("reader %d: %+v, want a then a clean end", i, r)
		}
	}
	if n := ls.s.Following(); n != 0 {
		t.Fatalf("%d followers after Shutdown", n)
	}
	// A reader after Shutdown stays with net/http, which ends it with the
	// request (the server's own shutdown).
	_, chs = ls.follow(t, nil, 1, "-1")
	if n := ls.s.Taken(); n != 0 {
		t.Fatalf("%d responses taken over after Shutdown", n)
	}
	ls.append(t, "b", true)
	if r := ended(t, chs[0]); r.end != nil || !r.closed || r.data != "ab" {
		t.Fatalf("the reader after Shutdown: %+v", r)
	}
}
