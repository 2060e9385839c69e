package client

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
	"go.uber.org/goleak"
)

// signal returns a handler that reports its arrival on arrived, then runs h.
func signal(arrived chan<- struct{}, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		h(w, r)
	}
}

// within waits for ch or fails the test after a generous bound.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestClient_CancellationReturnsPromptlyAndLeaksNoGoroutine(t *testing.T) {
	tests := []struct {
		name string
		// start returns the client to run and a channel that says when to
		// cancel; delivered receives a value for each event delivered.
		start func(t *testing.T, delivered <-chan struct{}) (*Client, <-chan struct{})
	}{
		{"while connecting", func(t *testing.T, delivered <-chan struct{}) (*Client, <-chan struct{}) {
			arrived := make(chan struct{}, 1)
			s := newServer(t, signal(arrived, stallBeforeHeaders))
			return s.client("/"), arrived
		}},
		{"while reading an open stream", func(t *testing.T, delivered <-chan struct{}) (*Client, <-chan struct{}) {
			s := newServer(t, stallAfter("data: a\n\n"))
			c := s.client("/")
			c.ReadIdleTimeout = time.Hour
			return c, delivered
		}},
		{"while waiting to reconnect", func(t *testing.T, delivered <-chan struct{}) (*Client, <-chan struct{}) {
			s := newServer(t, sends("data: a\n\n"))
			c := s.client("/")
			c.Retry = time.Hour
			return c, signalReconnectWait(c)
		}},
		{"while backing off", func(t *testing.T, delivered <-chan struct{}) (*Client, <-chan struct{}) {
			s := newServer(t, respond(503, "", ""))
			c := s.client("/")
			c.RetryServerErrors = true
			c.Retry = time.Hour
			return c, signalReconnectWait(c)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifyNoLeak(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			delivered := make(chan struct{}, 1)
			c, ready := tt.start(t, delivered)
			done := make(chan error, 1)
			go func() {
				done <- c.Run(ctx, func(sse.Event) error {
					select {
					case delivered <- struct{}{}:
					default:
					}
					return nil
				})
			}()
			within(t, ready, "the client to reach the state under test")
			cancel()
			if err := within(t, done, "Run to return after cancel"); err != context.Canceled {
				t.Fatalf("Run = %v, want context.Canceled", err)
			}
		})
	}
}

func TestClient_EventsLoopCanBreakAndLeaksNoGoroutine(t *testing.T) {
	verifyNoLeak(t)
	gone := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		openStream(w)
		rc := http.NewResponseController(w)
		for i := 0; r.Context().Err() == nil; i++ {
			w.Write([]byte("data: tick\n\n"))
			rc.Flush()
		}
		close(gone)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := 0
	for _, err := range s.client("/").Events(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	within(t, gone, "the server to see the client go away")
}

func TestClient_DeadlineEndsRunWithDeadlineExceeded(t *testing.T) {
	verifyNoLeak(t)
	s := newServer(t, stallAfter("data: a\n\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var closed error
	c := s.client("/")
	c.OnStateChange = func(st State, err error) {
		if st == Closed {
			closed = err
		}
	}
	var got error
	for _, err := range c.Events(ctx) {
		got = err
	}
	if !errors.Is(got, context.DeadlineExceeded) || closed != got {
		t.Fatalf("Events ended with %v (Closed with %v), want context.DeadlineExceeded", got, closed)
	}
}

// verifyNoLeak checks, once the test and all its cleanups (which close the
// test servers) are done, that no goroutine is left behind.
func verifyNoLeak(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// signalReconnectWait returns a channel that receives when c starts to wait
// before reconnecting (it is Connecting again after an error).
func signalReconnectWait(c *Client) <-chan struct{} {
	waiting := make(chan struct{}, 1)
	c.OnStateChange = func(st State, err error) {
		if st == Connecting && err != nil {
			waiting <- struct{}{}
		}
	}
	return waiting
}
