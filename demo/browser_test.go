package demo

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/internal/browsertest"
)

// requestLog counts the requests to one path and when they came.
type requestLog struct {
	mu    sync.Mutex
	times []time.Time
}

func (l *requestLog) wrap(path string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			l.mu.Lock()
			l.times = append(l.times, time.Now())
			l.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func (l *requestLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.times)
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
