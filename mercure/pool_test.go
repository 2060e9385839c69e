package mercure_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
)

// newAnonServer starts a hub open to anonymous subscribers behind a real
// HTTP/1.1 server.
func newAnonServer(tb testing.TB, coalesce time.Duration) (*mercure.Server, *httptest.Server) {
	tb.Helper()
	s, err := mercure.New(mercure.Config{Anonymous: true, Coalesce: coalesce, Heartbeat: -1, QueueSize: 1 << 16})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	tb.Cleanup(func() {
		s.Close()
		srv.CloseClientConnections()
		srv.Close()
	})
	return s, srv
}

// streamPaths are the two ways a Server serves a stream: taken over by the
// writer pool (the default) and a goroutine per stream (Coalesce < 0).
var streamPaths = []struct {
	name     string
	coalesce time.Duration
}{{"TakenOver", 0}, {"GoroutinePerStream", -1}}

// TestStreamPaths checks that both ways of serving a stream, taken over
// by the writer pool (the default) and a goroutine per stream (Coalesce
// < 0), deliver every update in order, end on shutdown with the retry hint
// and the last chunk, and release the subscription when the client leaves.
func TestStreamPaths(t *testing.T) {
	for _, c := range streamPaths {
		t.Run(c.name, func(t *testing.T) {
			s, srv := newAnonServer(t, c.coalesce)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			open := func() (*http.Response, *bufio.Reader) {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+mercure.HubPath+"?topic=t", nil)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode != 200 || res.TransferEncoding == nil || res.TransferEncoding[0] != "chunked" {
					t.Fatalf("response = %d %v", res.StatusCode, res.TransferEncoding)
				}
				return res, bufio.NewReader(res.Body)
			}
			leaving, lr := open()
			res, br := open()
			defer res.Body.Close()
			const n = 50
			for i := range n {
				if err := s.Hub().Publish(ctx, &hub.Update{ID: fmt.Sprintf("u%d", i), Topics: []string{"t"}, Data: "x"}); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range []*bufio.Reader{br, lr} {
				for i := range n {
					want := fmt.Sprintf("id: u%d", i)
					if l := nextLine(t, r, "id: "); l != want {
						t.Fatalf("got %q, want %q", l, want)
					}
				}
			}
			leaving.Body.Close()
			for s.Hub().Stats().Subscribers != 1 {
				select {
				case <-ctx.Done():
					t.Fatal("the subscription of a client that left is still open")
				case <-time.After(5 * time.Millisecond):
				}
			}
			done := make(chan error, 1)
			go func() { done <- s.Shutdown(ctx) }()
			if l := nextLine(t, br, "retry: "); l != "retry: 2000" {
				t.Fatalf("got %q, want the retry hint", l)
			}
			// The blank line that ends the event, then the end of the body.
			if rest, err := io.ReadAll(br); err != nil || string(rest) != "\n" {
				t.Fatalf("after the retry hint: %q, %v; want a clean end of the body", rest, err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// nextLine returns the next line of r that starts with prefix.
func nextLine(t *testing.T, r *bufio.Reader, prefix string) string {
	t.Helper()
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream for %q: %v", prefix, err)
		}
		if l = strings.TrimRight(l, "\n"); strings.HasPrefix(l, prefix) {
			return l
		}
	}
}

// BenchmarkStreamWrite measures the server side of delivering updates to
// 100 HTTP/1.1 subscribers in this process, per delivery: taken over by
// the writer pool (coalescing on and off) or served by a goroutine per
// stream. Publishing runs ahead of the writers, as on a busy hub. Run it
// with a fixed count, e.g. -benchtime 500x: figures of runs of different
// lengths do not compare.
func BenchmarkStreamWrite(b *testing.B) {
	for _, c := range []struct {
		name     string
		coalesce time.Duration
	}{{"GoroutinePerStream", -1}, {"Pool", time.Nanosecond}, {"PoolCoalesce1ms", time.Millisecond}} {
		b.Run(c.name, func(b *testing.B) {
			s, srv := newAnonServer(b, c.coalesce)
			publishAhead(b, s, srv, nil)
		})
	}
}

// publishAhead subscribes 100 clients made by newClient (nil: the default
// client) to srv, publishes b.N updates of 200 bytes, running ahead of the
// subscribers, and reports the time per delivery.
func publishAhead(b *testing.B, s *mercure.Server, srv *httptest.Server, newClient func() *http.Client) {
	const subs = 100
	// The publisher stays at most window updates ahead of the slowest
	// subscriber, far below the queue size and the history (1000): the
	// benchmark measures delivery, not the slow-consumer policy, nor a
	// follower so far behind that the store trimmed updates before it saw
	// them (which the Store contract lets it skip).
	const window = 100
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waitFor := countingSubscribers(b, ctx, srv, subs, newClient)
	data := strings.Repeat("x", 200)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i >= window {
			waitFor((i - window) * subs)
		}
		if err := s.Hub().Publish(ctx, &hub.Update{Topics: []string{"t"}, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(b.N * subs)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs), "ns/delivery")
}

// BenchmarkStreamLatency measures, at an everyday load, the time from
// publishing one update to its delivery to the last of 100 HTTP/1.1
// subscribers, one update at a time: what a pause after every round of
// writes would add to each update (the writer pool pauses only when
// publishing keeps up with it). ns/op is that latency.
func BenchmarkStreamLatency(b *testing.B) {
	for _, c := range streamPaths {
		b.Run(c.name, func(b *testing.B) {
			const subs = 100
			s, srv := newAnonServer(b, c.coalesce)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			waitFor := countingSubscribers(b, ctx, srv, subs, nil)
			data := strings.Repeat("x", 200)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Hub().Publish(ctx, &hub.Update{Topics: []string{"t"}, Data: data}); err != nil {
					b.Fatal(err)
				}
				waitFor((i + 1) * subs)
			}
		})
	}
}

// countingSubscribers subscribes n clients to topic t of srv and returns a
// function that waits until they received a total of at least k events,
// failing b if a stream ends first. Each subscriber uses the client
// newClient returns (nil: http.DefaultClient).
func countingSubscribers(b *testing.B, ctx context.Context, srv *httptest.Server, n int, newClient func() *http.Client) (waitFor func(k int)) {
	b.Helper()
	var (
		mu        sync.Mutex
		progress  = sync.NewCond(&mu)
		delivered int
		failed    error
	)
	for range n {
		client := http.DefaultClient
		if newClient != nil {
			client = newClient()
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+mercure.HubPath+"?topic=t", nil)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			defer res.Body.Close()
			br := bufio.NewReaderSize(res.Body, 64<<10)
			for {
				l, err := br.ReadSlice('\n')
				if err != nil {
					mu.Lock()
					if failed == nil && ctx.Err() == nil {
						failed = fmt.Errorf("a subscriber's stream ended: %w", err)
					}
					progress.Broadcast()
					mu.Unlock()
					return
				}
				if len(l) == 1 { // the blank line that ends an event
					mu.Lock()
					delivered++
					progress.Broadcast()
					mu.Unlock()
				}
			}
		}()
	}
	return func(k int) {
		mu.Lock()
		defer mu.Unlock()
		for delivered < k && failed == nil {
			progress.Wait()
		}
		if failed != nil {
			b.Fatal(failed)
		}
	}
}

// TestWriteDelayMetric checks that ssehub_write_delay_seconds measures from
// an update's publication time to its write, on both stream paths, and
// leaves replays of history out.
func TestWriteDelayMetric(t *testing.T) {
	for _, c := range streamPaths {
		t.Run(c.name, func(t *testing.T) {
			s, srv := newAnonServer(t, c.coalesce)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Published three seconds ago: the delay falls in (2 s, 5 s].
			past := time.Now().Add(-3 * time.Second)
			publish := func(id string) {
				t.Helper()
				if err := s.Hub().Publish(ctx, &hub.Update{ID: id, Topics: []string{"t"}, Data: "x", Time: past}); err != nil {
					t.Fatal(err)
				}
			}
			publish("old")
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+mercure.HubPath+"?topic=t", nil)
			req.Header.Set("Last-Event-ID", "earliest")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			br := bufio.NewReader(res.Body)
			if l := nextLine(t, br, "id: "); l != "id: old" {
				t.Fatalf("replay: got %q", l)
			}
			publish("live")
			if l := nextLine(t, br, "id: "); l != "id: live" {
				t.Fatalf("live: got %q", l)
			}
			// The write is observed just after it returns, which the
			// client may see first: poll the metric, within the deadline.
			var count, upTo2, upTo5 string
			for count != "1" {
				if ctx.Err() != nil {
					t.Fatalf("ssehub_write_delay_seconds_count = %q, want 1 (the live update only)", count)
				}
				m := scrape(t, ctx, srv.URL+"/metrics")
				count, upTo2, upTo5 = m["ssehub_write_delay_seconds_count"], m[`ssehub_write_delay_seconds_bucket{le="2"}`], m[`ssehub_write_delay_seconds_bucket{le="5"}`]
			}
			if upTo2 != "0" || upTo5 != "1" {
				t.Errorf("buckets le=2: %s, le=5: %s; want 0 and 1 for an update published 3 s ago", upTo2, upTo5)
			}
		})
	}
}

// scrape returns the samples of a Prometheus text exposition, by series.
func scrape(t *testing.T, ctx context.Context, url string) map[string]string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok && !strings.HasPrefix(l, "#") {
			m[k] = v
		}
	}
	return m
}

// TestWriterPauseMetrics checks ssehub_writer_rounds_total and
// ssehub_writer_pauses_total: updates published far apart (20 ms, far more
// than a round to one subscriber takes) are written without a pause, and
// updates published without a break make the writers pause.
func TestWriterPauseMetrics(t *testing.T) {
	s, srv := newAnonServer(t, 0) // the default Coalesce, 1 ms
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+mercure.HubPath+"?topic=t", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	publish := func(id string) {
		t.Helper()
		if err := s.Hub().Publish(ctx, &hub.Update{ID: id, Topics: []string{"t"}, Data: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	counters := func() (rounds, pauses string) {
		m := scrape(t, ctx, srv.URL+"/metrics")
		return m["ssehub_writer_rounds_total"], m["ssehub_writer_pauses_total"]
	}
	for i := range 6 {
		if i > 0 {
			<-time.After(20 * time.Millisecond) // the idle time under test, not a synchronisation
		}
		id := fmt.Sprint("spaced-", i)
		publish(id)
		if l := nextLine(t, br, "id: "); l != "id: "+id {
			t.Fatalf("got %q, want id: %s", l, id)
		}
	}
	// A round is counted before its write, which the client may see
	// first: poll (bounded by ctx) until the sixth round shows. The stream
	// may have had a round of its own when it was taken over.
	rounds, pauses := counters()
	for n, _ := strconv.Atoi(rounds); n < 6 && ctx.Err() == nil; n, _ = strconv.Atoi(rounds) {
		rounds, pauses = counters()
	}
	if pauses != "0" {
		t.Fatalf("after 6 updates 20 ms apart: %s rounds and %s pauses, want no pause", rounds, pauses)
	}
	// Updates published without a break, read as they come: the writers
	// must start pausing (bounded by ctx and a number of updates).
	go io.Copy(io.Discard, br)
	const most = 100_000
	n := 0
	for ; n < most && pauses == "0" && ctx.Err() == nil; n++ {
		publish(fmt.Sprint("load-", n))
		if n%100 == 99 {
			_, pauses = counters()
		}
	}
	if pauses == "0" {
		t.Fatalf("%d updates published without a break, and the writers never paused", n)
	}
}

// A stream taken over by the writer pool ends by closing its connection, so
// its response says Connection: close: a client that read the stream to its
// last chunk must not put the connection back in its idle pool, where its
// next request (a publish after the hub shut down, say) would meet the
// close as an EOF instead of the hub's answer.
func TestStreamTakenOverSaysTheConnectionCloses(t *testing.T) {
	for _, c := range streamPaths {
		t.Run(c.name, func(t *testing.T) {
			_, srv := newAnonServer(t, c.coalesce)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+mercure.HubPath+"?topic=t", nil)
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			// Only the pool closes a stream's connection; net/http keeps a
			// goroutine-served one alive for the next request.
			if want := c.coalesce >= 0; res.Close != want {
				t.Fatalf("response closes the connection: %v, want %v (Connection: %q)", res.Close, want, res.Header.Get("Connection"))
			}
		})
	}
}
