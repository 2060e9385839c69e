package tlsserve_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/internal/browsertest"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/tlsserve"
)

// manyStreamsPage opens 20 EventSources to the hub on the page's origin and
// counts, for each, whether it is open and whether it received an update.
const manyStreamsPage = `<!DOCTYPE html><meta charset="utf-8"><title>20 streams</title><script>
const sources = [], got = [];
for (let i = 0; i < 20; i++) {
  got.push(0);
  const es = new EventSource("/.well-known/mercure?topic=" + encodeURIComponent("https://example.com/many"));
  es.onmessage = () => { got[i]++; };
  sources.push(es);
}
window.state = () => ({
  open: sources.filter(es => es.readyState === EventSource.OPEN).length,
  connecting: sources.filter(es => es.readyState === EventSource.CONNECTING).length,
  received: got.filter(n => n > 0).length,
});
</script>`

// pageState is what window.state() reports.
type pageState struct {
	Open       int `json:"open"`
	Connecting int `json:"connecting"`
	Received   int `json:"received"`
}

// waitState polls the page until ok(state) holds, for at most 20 s.
func waitState(t *testing.T, ctx context.Context, what string, ok func(pageState) bool) pageState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](`state()`))
		if err != nil {
			t.Fatalf("reading the page's state: %v", err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 20 s for %s; the page has %+v", what, st)
		}
		time.Sleep(50 * time.Millisecond) // polling interval of a bounded wait
	}
}

// TestBrowser_TwentyEventSourcesOnOnePage proves what HTTP/2 is for: over
// HTTP/1.1 Chromium opens at most six connections to one origin, so the
// seventh EventSource of a page never opens; over HTTP/2 all twenty share
// one connection and every one receives the update.
func TestBrowser_TwentyEventSourcesOnOnePage(t *testing.T) {
	tests := []struct {
		name      string
		cfg       tlsserve.Config
		proto     int
		open      int // EventSources that open and receive the update
		stalled   int // EventSources still CONNECTING after that
		published string
	}{
		{"over HTTP/2 every one of the 20 receives the update", tlsserve.Config{SelfSigned: true}, 2, 20, 0, "h2"},
		{"over HTTP/1.1 six receive it and fourteen stall", tlsserve.Config{}, 1, 6, 14, "h1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := mercure.New(mercure.Config{PublisherJWTKey: hubKey, Anonymous: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Close() })
			mux := http.NewServeMux()
			h.Register(mux)
			mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				fmt.Fprint(w, manyStreamsPage)
			})
			var subs [3]atomic.Int64 // subscriptions by HTTP major version
			counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/.well-known/mercure" && r.Method == http.MethodGet && r.ProtoMajor < len(subs) {
					subs[r.ProtoMajor].Add(1)
				}
				mux.ServeHTTP(w, r)
			})
			s, addr := start(t, tt.cfg, counted)

			var opts []chromedp.ExecAllocatorOption
			client := &http.Client{Timeout: 10 * time.Second}
			origin := "http://" + addr
			if s.Leaf != nil {
				// Chromium trusts the test certificate by its key's hash.
				opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", tlsserve.SPKIHash(s.Leaf)))
				client = h2Client(trusting(s.Leaf))
				origin = "https://" + addr
			}
			ctx := browsertest.Start(t, opts...)
			if err := chromedp.Do(ctx, chromedp.Navigate(origin+"/")); err != nil {
				t.Fatal(err)
			}
			waitState(t, ctx, fmt.Sprintf("%d open EventSources", tt.open), func(st pageState) bool { return st.Open == tt.open })

			req, err := http.NewRequest(http.MethodPost, origin+"/.well-known/mercure",
				strings.NewReader(url.Values{"topic": {"https://example.com/many"}, "data": {tt.published}}.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+publisherToken(t))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("publish: %s", resp.Status)
			}

			st := waitState(t, ctx, fmt.Sprintf("%d EventSources with the update", tt.open), func(st pageState) bool { return st.Received == tt.open })
			if st != (pageState{Open: tt.open, Connecting: tt.stalled, Received: tt.open}) {
				t.Fatalf("after the update: %+v, want %d open and received, %d still connecting", st, tt.open, tt.stalled)
			}
			if got := subs[tt.proto].Load(); got != int64(tt.open) {
				t.Fatalf("the hub saw %d subscriptions over HTTP/%d, want %d", got, tt.proto, tt.open)
			}
		})
	}
}
