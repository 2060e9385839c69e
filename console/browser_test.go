package console_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/client"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/browsertest"
	"github.com/ssehub/ssehub/internal/servertest"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/sse"
)

// screenshot saves the page as docs/<name> when SSEHUB_SCREENSHOTS names a
// folder (make screenshot).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("SSEHUB_SCREENSHOTS")
	if dir == "" {
		return
	}
	eval[bool](t, ctx, `window.scrollTo(0, 0); true`)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// colorScheme is the page's prefers-color-scheme: dark, the screenshots',
// unless SSEHUB_COLOR_SCHEME says otherwise (light, to look at the other).
func colorScheme() string {
	if v := os.Getenv("SSEHUB_COLOR_SCHEME"); v != "" {
		return v
	}
	return "dark"
}

// waitFor polls the page until the JavaScript expression is true.
func waitFor(t *testing.T, ctx context.Context, expr, what string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(servertest.Wait))); err != nil {
		t.Fatalf("the page never showed %s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitSubscribers waits until the hub has n subscriptions open.
func waitSubscribers(t *testing.T, h *hub.Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(servertest.Wait)
	for h.Stats().Subscribers != n {
		if time.Now().After(deadline) {
			t.Fatalf("the hub has %d subscribers, want %d", h.Stats().Subscribers, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// publishFor publishes, every 20 ms from tick from to tick to, a number of
// updates that varies with the tick, so that charts have a shape; during
// is called after each tick. It returns how many it published.
func publishFor(t *testing.T, h *hub.Hub, from, to int, during func(i int)) int {
	t.Helper()
	ticker := time.NewTicker(20 * time.Millisecond)
	defer ticker.Stop()
	published := 0
	for i := from; i < to; i++ {
		<-ticker.C
		for range 2 + int(2*math.Sin(float64(i)/30)) + i%2 {
			u := &hub.Update{Topics: []string{fmt.Sprint("https://example.com/books/", i%7)}, Data: strings.Repeat("x", 100+i)}
			if err := h.Publish(context.Background(), u); err != nil {
				t.Fatal(err)
			}
			published++
		}
		if during != nil {
			during(i)
		}
	}
	return published
}

// TestBrowser_TheOperatorWatchesTailsAndPublishes is the console as an
// operator uses it: an anonymous visitor gets the login form and no data;
// after logging in the counters and charts move while updates are
// published; a tail shows updates as they come, private ones marked, and
// pauses and resumes without losing any; the publish form reaches a Go
// client subscribed over HTTP. It takes the guide's screenshots when
// SSEHUB_SCREENSHOTS names a folder.
func TestBrowser_TheOperatorWatchesTailsAndPublishes(t *testing.T) {
	streams, streamID := startStreams(t)
	n := startEvery(t, nil, "node-1", 200*time.Millisecond, streams)
	ctx := browsertest.Start(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1360, 900)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: colorScheme()}}}); err != nil {
		t.Fatal(err)
	}

	// An anonymous visitor: the login form, and 401 for every data path.
	if err := chromedp.Do(ctx, chromedp.Navigate(n.url+"/ui/"), chromedp.WaitVisible("#key")); err != nil {
		t.Fatal(err)
	}
	n.publishPrivate(t, "secret-0", "private before login")
	statuses, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Promise.all(["events", "api/subscriptions", "tail?topic=*&from=earliest"].map(
		(p) => fetch(p).then((r) => r.status))).then((s) => s.join(" "))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if statuses != "401 401 401" {
		t.Fatalf("anonymous fetches answered %s, want 401 401 401", statuses)
	}
	if html := eval[string](t, ctx, `document.documentElement.outerHTML`); strings.Contains(html, "secret") || strings.Contains(html, "overview") {
		t.Fatal("the anonymous page shows the console or the private update")
	}

	// Subscribers over HTTP, so that updates are delivered and written.
	for i := range 4 {
		resp, err := http.Get(n.url + mercure.HubPath + "?topic=" + fmt.Sprint("https://example.com/books/{id}&topic=urn:load:", i))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
	}
	// The operator logs in.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys("#key", operatorKey),
		chromedp.Submit("#key"),
		chromedp.WaitVisible("#overview"),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `document.getElementById("live").dataset.state === "live"`, "the live stream")

	// Updates while the page is open: it counts them, and the screenshot
	// is taken while they flow (the page's stream closed meanwhile, so
	// that the pause of publishing does not show).
	published := publishFor(t, n.hub, 0, 300, func(i int) {
		if i == 290 && os.Getenv("SSEHUB_SCREENSHOTS") != "" {
			eval[bool](t, ctx, `ssehubConsole.stream.close(); true`)
			screenshot(t, ctx, "console-overview.png")
			eval[bool](t, ctx, `connect(); true`)
		}
	})
	waitFor(t, ctx, fmt.Sprintf(`Number(document.body.dataset.published) === %d`, published+1), "every publication counted")
	total := fmt.Sprint(published + 1)
	for id, want := range map[string]string{"k-published": total + " in all", "k-delivered": "in all", "k-delay": "p50"} {
		if v := eval[string](t, ctx, `document.querySelector("#`+id+` .sub").textContent`); !strings.Contains(v, want) {
			t.Errorf("the %s counter says %q after %s publications, want %q in it", id, v, total, want)
		}
	}
	if paths := eval[int](t, ctx, `document.querySelectorAll("#overview canvas").length`); paths < 6 {
		t.Fatalf("%d charts drawn, want 6", paths)
	}

	// Topics and subscriptions, filtered.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1360, 420), chromedp.Navigate(n.url+"/ui/#topics"), chromedp.WaitVisible("#filter")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `document.querySelectorAll("#sub-rows tbody tr").length === 4`, "the four subscriptions")
	if err := chromedp.Do(ctx, chromedp.SendKeys("#filter", "urn:load:2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `document.querySelectorAll("#sub-rows tbody tr").length === 1 && document.querySelectorAll("#topic-rows tbody tr").length === 2`,
		"the one subscription to urn:load:2 and its two selectors")
	screenshot(t, ctx, "console-topics.png")

	// The tail: updates appear as they are published, private ones marked;
	// paused, it misses nothing.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(n.url+"/ui/#tail"),
		chromedp.WaitVisible("#tail-form"),
		chromedp.SetValue("#tail-topics", "https://example.com/orders/{id}"),
		chromedp.Click("#tail-start"),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `document.getElementById("tail-state").dataset.state === "live"`, "the tail connected")
	orders := []*hub.Update{
		{ID: "order-1", Type: "created", Topics: []string{"https://example.com/orders/1"}, Data: `{"id":1,"total":"42.00 EUR","items":3}`},
		{ID: "order-1-payment", Type: "paid", Topics: []string{"https://example.com/orders/1", "https://example.com/customers/7"}, Data: `{"order":1,"card":"•••• 4242"}`, Private: true},
		{ID: "order-2", Type: "created", Topics: []string{"https://example.com/orders/2"}, Data: `{"id":2,"total":"9.90 EUR","items":1}`},
	}
	for _, u := range orders[:2] {
		if err := n.hub.Publish(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, ctx, `document.querySelectorAll("#tail-rows tbody tr").length === 2`, "the two tailed updates")
	if err := chromedp.Do(ctx, chromedp.Click("#tail-pause")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `document.getElementById("tail-state").dataset.state === "paused"`, "the tail paused")
	if err := n.hub.Publish(context.Background(), orders[2]); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click("#tail-pause")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `document.querySelectorAll("#tail-rows tbody tr").length === 3`, "the update published while paused, after resuming")
	rows := eval[string](t, ctx, `[...document.querySelectorAll("#tail-rows tbody tr")].map((r) => r.innerText.replace(/\s+/g, " ")).join("\n")`)
	for _, want := range []string{"order-2 created https://example.com/orders/2", "order-1-payment paid private", "https://example.com/customers/7", "order-1 created"} {
		if !strings.Contains(rows, want) {
			t.Fatalf("tail rows:\n%s\nwant a row with %q", rows, want)
		}
	}
	screenshot(t, ctx, "console-tail.png")

	// The resumable streams: the demo's stream is listed, closed, and its
	// Tail button follows it from its first event.
	if err := chromedp.Do(ctx, chromedp.Navigate(n.url+"/ui/#streams")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `document.querySelectorAll("#stream-rows tbody tr").length === 1`, "the stream")
	if row := eval[string](t, ctx, `document.querySelector("#stream-rows tbody tr").innerText.replace(/\s+/g, " ")`); !strings.Contains(row, streamID+" closed (done) 4") {
		t.Fatalf("the stream's row says %q, want %s closed (done) with 4 events", row, streamID)
	}
	screenshot(t, ctx, "console-streams.png")
	if err := chromedp.Do(ctx, chromedp.Click("#stream-rows tbody button")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `document.querySelectorAll("#tail-rows tbody tr").length === 4`, "the stream's four events in the tail")

	// The publish form reaches a Go client subscribed over HTTP.
	subCtx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
	defer cancel()
	before := n.hub.Stats().Subscribers
	got := make(chan sse.Event, 1)
	c := &client.Client{URL: n.url + mercure.HubPath + "?topic=" + "https://example.com/announcements"}
	go c.Run(subCtx, func(ev sse.Event) error {
		got <- ev
		return errors.New("got the one event this test waits for")
	})
	waitSubscribers(t, n.hub, before+1)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(n.url+"/ui/#publish"),
		chromedp.WaitVisible("#pub-form"),
		chromedp.SetValue("#pub-topics", "https://example.com/announcements"),
		chromedp.SetValue("#pub-data", `{"title":"Maintenance tonight","from":"22:00 UTC"}`),
		chromedp.SetValue("#pub-id", "announcement-1"),
		chromedp.SetValue("#pub-type", "notice"),
		chromedp.Click("#pub-send"),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `document.querySelectorAll("#pub-rows tbody tr").length === 1`, "the hub's answer")
	if answer := eval[string](t, ctx, `document.querySelector("#pub-rows tbody tr").innerText.replace(/\s+/g, " ")`); !strings.Contains(answer, "200 announcement-1") {
		t.Fatalf("the page shows the answer %q, want 200 announcement-1", answer)
	}
	select {
	case ev := <-got:
		if ev.ID != "announcement-1" || ev.Type != "notice" || ev.Data != `{"title":"Maintenance tonight","from":"22:00 UTC"}` {
			t.Fatalf("the Go subscriber got %+v", ev)
		}
	case <-subCtx.Done():
		t.Fatal("the Go subscriber got nothing from the publish form")
	}
	screenshot(t, ctx, "console-publish.png")
	// A refusal shows the hub's reason.
	eval[string](t, ctx, `const topics = document.getElementById("pub-topics"); topics.required = false; topics.value = ""`)
	if err := chromedp.Do(ctx,
		chromedp.Click("#pub-send"),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, `document.querySelectorAll("#pub-rows tbody tr").length === 2`, "the hub's refusal")
	if answer := eval[string](t, ctx, `document.querySelector("#pub-rows tbody tr").innerText`); !strings.Contains(answer, "400") {
		t.Fatalf("the page shows the refusal %q, want 400", answer)
	}
}
