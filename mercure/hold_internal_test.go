package mercure

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
)

func TestHold_IsRaisedOnlyByAWaitLongerThanCoalesceAndForAtMostEightTimesIt(t *testing.T) {
	const coalesce = time.Second // no hold of this test ends while it looks
	now := time.Now()
	tests := []struct {
		name string
		lag  time.Duration
		want time.Duration // 0: no hold
	}{
		{"a wait of Coalesce raises no hold", coalesce, 0},
		{"a longer wait holds as long as it", 3 * coalesce, 3 * coalesce},
		{"a very long wait holds eight times Coalesce", 100 * coalesce, 8 * coalesce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h hold
			h.note(now, tt.lag, coalesce)
			t.Cleanup(func() {
				if h.timer != nil {
					h.timer.Stop()
				}
			})
			if tt.want == 0 {
				if h.wait(now) != nil {
					t.Fatal("a hold was raised")
				}
				return
			}
			if h.wait(now) == nil {
				t.Fatal("no hold was raised")
			}
			if got := time.Duration(h.until.Load() - now.UnixNano()); got != tt.want {
				t.Fatalf("hold of %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHold_EndsWhenItsTimeIsUpAndNotBefore(t *testing.T) {
	const coalesce = 20 * time.Millisecond
	var h hold
	start := time.Now()
	h.note(start, 2*coalesce, coalesce)
	over := h.wait(time.Now())
	if over == nil {
		t.Fatal("no hold was raised")
	}
	select {
	case <-over:
	case <-time.After(10 * time.Second):
		t.Fatal("the hold did not end in 10 s")
	}
	if ended := time.Since(start); ended < 2*coalesce {
		t.Fatalf("the hold ended after %v, before the %v it was raised for", ended, 2*coalesce)
	}
	if h.wait(time.Now()) != nil {
		t.Fatal("the hold is still on after it ended")
	}
}

func TestNotified_WaitCountsFromTheLaterOfTheNotificationAndTheEndOfTheLastWrite(t *testing.T) {
	var n notified
	now := time.Now()
	if got := n.take(now, time.Time{}); got != 0 {
		t.Fatalf("not notified: waited %v, want 0", got)
	}
	n.stamp()
	stamped := time.Unix(0, n.at.Load())
	n.stamp() // the queue was not empty: the first notification counts
	if got := time.Unix(0, n.at.Load()); !got.Equal(stamped) {
		t.Fatal("a second notification moved the time the queue became non-empty")
	}
	later := stamped.Add(time.Second)
	if got := n.take(later, time.Time{}); got != time.Second {
		t.Fatalf("waited %v, want 1s from the notification", got)
	}
	n.stamp()
	stamped = time.Unix(0, n.at.Load())
	// Notified while the stream was writing to a slow client: the wait is
	// the client's until the write ended.
	free := stamped.Add(time.Second)
	if got := n.take(free.Add(time.Millisecond), free); got != time.Millisecond {
		t.Fatalf("waited %v, want 1ms from the end of the write", got)
	}
}

// TestStream_HTTP2StreamsHeldTakeEverythingPublishedMeanwhileInOneWrite
// raises the hold by hand, as a stream of a hub that is behind would, and
// checks that a stream waits for its end and then writes the updates
// published meanwhile, in order, with one flush.
func TestStream_HTTP2StreamsHeldTakeEverythingPublishedMeanwhileInOneWrite(t *testing.T) {
	const coalesce = 100 * time.Millisecond
	s, err := New(Config{Anonymous: true, Heartbeat: -1, Coalesce: coalesce})
	if err != nil {
		t.Fatal(err)
	}
	var flushes atomic.Int64
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(countFlushes{w, &flushes}, r)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() { s.Close(); srv.CloseClientConnections(); srv.Close() })

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+HubPath+"?topic=t", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("subscribed over %s, want HTTP/2", resp.Proto)
	}
	before := flushes.Load()
	// The longest hold: 800 ms, far more than publishing nine updates
	// to a memory store takes.
	raised := time.Now()
	s.hold.note(raised, time.Hour, coalesce)
	for i := range 9 {
		if err := s.Hub().Publish(ctx, &hub.Update{Topics: []string{"t"}, Data: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	p := sse.NewParser(resp.Body)
	for i := range 9 {
		if ev, err := p.Next(); err != nil || ev.Data != fmt.Sprint(i) {
			t.Fatalf("got %+v, %v; want update %d", ev, err, i)
		}
	}
	if arrived := time.Since(raised); arrived < maxHoldFactor*coalesce {
		t.Fatalf("the updates arrived %v after the hold was raised, before it ended (%v)", arrived, maxHoldFactor*coalesce)
	}
	if n := flushes.Load() - before; n != 1 {
		t.Fatalf("9 updates published during a hold took %d flushes, want 1", n)
	}
}

// countFlushes counts the flushes of the stream it wraps.
type countFlushes struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (f countFlushes) Flush() {
	f.n.Add(1)
	f.ResponseWriter.(http.Flusher).Flush()
}

func (f countFlushes) Unwrap() http.ResponseWriter { return f.ResponseWriter }
