package demo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/internal/browsertest"
	"github.com/ssehub/ssehub/resumable"
	"github.com/ssehub/ssehub/store/memory"
	"github.com/ssehub/ssehub/stream"
)

// requestLog records the requests to one path: when they came and the
// status they were answered with.
type requestLog struct {
	mu       sync.Mutex
	times    []time.Time
	statuses []int
}

type statusRecorder struct {
	http.ResponseWriter
	status *int
}

func (s statusRecorder) WriteHeader(code int) {
	*s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController flush through the recorder.
func (s statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (l *requestLog) wrap(path string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			h.ServeHTTP(w, r)
			return
		}
		l.mu.Lock()
		l.times = append(l.times, time.Now())
		l.statuses = append(l.statuses, 0)
		i := len(l.statuses) - 1
		l.mu.Unlock()
		status := 200
		h.ServeHTTP(statusRecorder{w, &status}, r)
		l.mu.Lock()
		l.statuses[i] = status
		l.mu.Unlock()
	})
}

func (l *requestLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.times)
}

// since returns the statuses of the requests that came after t.
func (l *requestLog) since(t time.Time) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int
	for i, at := range l.times {
		if at.After(t) {
			out = append(out, l.statuses[i])
		}
	}
	return out
}

// TestBrowser_TypewriterTypesThePoemOnceAndStops is the demo as a person
// sees it: click 输出, watch the poem type itself, and no second request
// after the end. It also takes the README's screenshot when
// SSEHUB_SCREENSHOTS names a folder.
func TestBrowser_TypewriterTypesThePoemOnceAndStops(t *testing.T) {
	var log requestLog
	srv := httptest.NewServer(log.wrap("/sse/stream", Handler(Options{Delay: 20 * time.Millisecond})))
	defer srv.Close()

	ctx := browsertest.Start(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible("#output"),
		chromedp.Click("#output"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("state").dataset.state === "done"`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the page never reached the done state: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("sse").innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if text != Poem {
		t.Fatalf("the page shows %q, want the poem %q", text, Poem)
	}
	whiteSpace, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.getElementById("sse")).whiteSpace`))
	if whiteSpace != "pre-line" {
		t.Fatalf("white-space is %q", whiteSpace)
	}
	if n := log.count(); n != 1 {
		t.Fatalf("the server saw %d requests to /sse/stream, want 1", n)
	}
	if dir := os.Getenv("SSEHUB_SCREENSHOTS"); dir != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "demo.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The original example's promise: no reconnect loop after the end. The
	// window is the assertion itself, not a wait for something to happen.
	time.Sleep(3 * time.Second)
	if n := log.count(); n != 1 {
		t.Fatalf("the browser reconnected after the end: %d requests to /sse/stream", n)
	}
	state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("state").dataset.state`))
	if state != "done" {
		t.Fatalf("state after the end is %q, want done", state)
	}
}

// TestBrowser_ResumableTypewriterSurvivesDroppedConnections cuts the
// connection three times mid-poem, from the server side: the browser
// reconnects with Last-Event-ID, the page shows "reconnecting…", and the poem
// ends whole, every character once and in order; after the end nothing
// reaches the server but, at most, one request answered 204.
func TestBrowser_ResumableTypewriterSurvivesDroppedConnections(t *testing.T) {
	st := memory.NewStreams(memory.StreamsOptions{})
	t.Cleanup(func() { st.Close() })
	streams, err := resumable.New(st, resumable.Options{Stream: stream.Options{Retry: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { streams.Close() })

	// 100 ms a piece leaves the last drop, at 22 of 31 characters, half a
	// second before the end even when a loaded machine delays the page.
	var log requestLog
	srv := httptest.NewServer(log.wrap("/sse/stream", Handler(Options{Delay: 100 * time.Millisecond, Streams: streams})))
	t.Cleanup(srv.Close)

	ctx := browsertest.Start(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#output"), chromedp.Click("#output")); err != nil {
		t.Fatal(err)
	}
	for _, chars := range []int{4, 12, 22} {
		expr := fmt.Sprintf(`document.getElementById("sse").innerText.length >= %d`, chars)
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("the poem never reached %d characters: %v", chars, err)
		}
		srv.CloseClientConnections() // the network drops
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("state").dataset.state === "done"`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the page never reached the done state: %v", err)
	}
	end := time.Now()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("sse").innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if text != Poem {
		t.Fatalf("the page shows %q, want the poem %q", text, Poem)
	}
	// Typing the poem again from a new stream would also end with the
	// whole poem: one stream is what proves it resumed.
	ids, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.streamIDs`))
	if len(ids) != 1 {
		t.Fatalf("the page was given %d streams (%v), want the one stream resumed", len(ids), ids)
	}
	// The answer the page followed is a durable stream holding the poem.
	var stored strings.Builder
	for ev, err := range streams.Events(t.Context(), ids[0], 0) {
		if err != nil {
			t.Fatalf("reading answer %s from the durable store: %v", ids[0], err)
		}
		var p Piece
		if ev.Type == "" && json.Unmarshal([]byte(ev.Data), &p) == nil {
			stored.WriteString(p.Content)
		}
	}
	if stored.String() != Poem {
		t.Fatalf("answer %s holds %q, want the poem", ids[0], stored.String())
	}
	states, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.states`))
	if !slices.Contains(states, "reconnecting") {
		t.Fatalf("the page never showed reconnecting: %v", states)
	}
	if n := log.count(); n < 4 {
		t.Fatalf("%d requests to /sse/stream for three dropped connections", n)
	}
	// The window is the assertion: nothing may come after the end.
	time.Sleep(3 * time.Second)
	if after := log.since(end); len(after) > 1 || len(after) == 1 && after[0] != http.StatusNoContent {
		t.Fatalf("after the end the server saw requests answered %v; want none, or one 204", after)
	}
}
