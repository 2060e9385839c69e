package mercure_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/internal/browsertest"
	"github.com/ssehub/ssehub/mercure"
)

const (
	browserPubKey = "browser-publisher-secret-32-bytes!!"
	browserSubKey = "browser-subscriber-secret-32-bytes!"
)

// page is the test page: small helpers around the browser's own
// EventSource and fetch, recording what each EventSource received.
const page = `<!DOCTYPE html><meta charset="utf-8"><title>hub test</title><script>
window.received = {};
function listen(name, url) {
  received[name] = [];
  const es = new EventSource(url);
  const push = e => received[name].push({type: e.type, id: e.lastEventId, data: e.data});
  es.onmessage = push;
  es.addEventListener("note", push);
  return new Promise((resolve, reject) => {
    es.onopen = () => resolve(true);
    es.onerror = () => { if (es.readyState === EventSource.CLOSED) reject(new Error("refused")); };
  });
}
async function publish(hub, pairs, token) {
  const headers = token ? {Authorization: "Bearer " + token} : {};
  const r = await fetch(hub, {method: "POST", headers, body: new URLSearchParams(pairs), credentials: "include"});
  return r.status + " " + await r.text();
}
</script>`

func hmacToken(t *testing.T, key string, mercureClaim map[string]any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"mercure": mercureClaim}).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startOn serves h on a fresh loopback listener and returns its origin.
func startOn(t *testing.T, h http.Handler) (*httptest.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	return srv, srv.URL
}

// TestBrowser_HubScenariosWithRealEventSource runs the protocol's main
// scenarios in headless Chromium: its EventSource subscribes, its fetch
// publishes, and cookies carry tokens the way pages send them.
func TestBrowser_HubScenariosWithRealEventSource(t *testing.T) {
	// The foreign page is another origin on the same site, so the browser
	// sends the cookie with its request: only the origin check stops it.
	foreignMux := http.NewServeMux()
	_, foreignOrigin := startOn(t, foreignMux)
	// The hub's origin goes into its configuration, so the server starts
	// first and the routes are added after.
	hubMux := http.NewServeMux()
	_, origin := startOn(t, hubMux)
	hubSrv, err := mercure.New(mercure.Config{
		PublisherJWTKey:  browserPubKey,
		SubscriberJWTKey: browserSubKey,
		Anonymous:        true,
		PublishOrigins:   []string{origin},
		CORSOrigins:      []string{foreignOrigin},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hubSrv.Close() })
	hubSrv.Register(hubMux)
	servePage := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}
	hubMux.HandleFunc("GET /test", servePage)
	foreignMux.HandleFunc("GET /test", servePage)
	hubURL := origin + mercure.HubPath

	ctx := browsertest.Start(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(origin+"/test")); err != nil {
		t.Fatal(err)
	}
	js := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	open := func(name, query string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf("listen(%q, %q)", name, hubURL+"?"+query), chromedp.EvalAwaitPromise)); err != nil {
			t.Fatalf("EventSource %s did not open: %v", name, err)
		}
	}
	waitCount := func(name string, n int) {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if _, err := chromedp.Run(pctx, chromedp.Poll[bool](fmt.Sprintf("received[%q].length >= %d", name, n))); err != nil {
			t.Fatalf("EventSource %s never got %d events (has %s)", name, n, js(fmt.Sprintf("JSON.stringify(received[%q])", name)))
		}
	}
	got := func(name string) string { return js(fmt.Sprintf("JSON.stringify(received[%q])", name)) }
	pubTok := hmacToken(t, browserPubKey, map[string]any{"publish": []string{"*"}})
	publish := func(pairs string, token string) string {
		t.Helper()
		return js(fmt.Sprintf("publish(%q, %s, %q)", hubURL, pairs, token))
	}

	t.Run("PublishFromThePageReachesAnotherEventSource", func(t *testing.T) {
		open("books", "topic=https://example.com/books/{id}")
		open("authors", "topic=https://example.com/authors/{id}")
		res := publish(`[["topic","https://example.com/books/1"],["id","b1"],["type","note"],["data","line one\nline two"]]`, pubTok)
		if res != "200 b1" {
			t.Fatalf("publish answered %q", res)
		}
		res = publish(`[["topic","https://example.com/authors/2"],["id","a1"],["data","author"]]`, pubTok)
		if res != "200 a1" {
			t.Fatalf("publish answered %q", res)
		}
		waitCount("books", 1)
		waitCount("authors", 1)
		if g := got("books"); g != `[{"type":"note","id":"b1","data":"line one\nline two"}]` {
			t.Fatalf("books EventSource got %s", g)
		}
		if g := got("authors"); g != `[{"type":"message","id":"a1","data":"author"}]` {
			t.Fatalf("authors EventSource got %s", g)
		}
	})

	t.Run("PublishWithoutTokenIsRefused", func(t *testing.T) {
		if res := publish(`[["topic","https://example.com/books/9"],["data","x"]]`, ""); !strings.HasPrefix(res, "401 ") {
			t.Fatalf("publish without token answered %q", res)
		}
	})

	t.Run("PrivateUpdateReachesOnlyTheCookieSubscriber", func(t *testing.T) {
		subTok := hmacToken(t, browserSubKey, map[string]any{"subscribe": []string{"https://example.com/secrets/{id}"}})
		js(fmt.Sprintf(`document.cookie = "mercureAuthorization=%s; path=/"; "ok"`, subTok))
		open("withCookie", "topic=https://example.com/secrets/{id}")
		js(`document.cookie = "mercureAuthorization=; path=/; max-age=0"; "ok"`)
		open("anonymous", "topic=https://example.com/secrets/{id}")
		publish(`[["topic","https://example.com/secrets/1"],["id","s1"],["private","on"],["data","secret"]]`, pubTok)
		publish(`[["topic","https://example.com/secrets/2"],["id","p1"],["data","public"]]`, pubTok)
		waitCount("withCookie", 2)
		waitCount("anonymous", 1)
		if g := got("withCookie"); g != `[{"type":"message","id":"s1","data":"secret"},{"type":"message","id":"p1","data":"public"}]` {
			t.Fatalf("cookie subscriber got %s", g)
		}
		if g := got("anonymous"); g != `[{"type":"message","id":"p1","data":"public"}]` {
			t.Fatalf("anonymous subscriber got %s", g)
		}
	})

	t.Run("ReplayFromLastEventIDQuery", func(t *testing.T) {
		open("replay", "topic=https://example.com/books/{id}&lastEventID=earliest")
		waitCount("replay", 1)
		if g := got("replay"); g != `[{"type":"note","id":"b1","data":"line one\nline two"}]` {
			t.Fatalf("replay got %s", g)
		}
	})

	// draft-08 §"Subscription": a page subscribes with QUERY, its matchers
	// in a form body, and reads the stream with fetch.
	t.Run("Draft08QuerySubscriptionFromFetch", func(t *testing.T) {
		expr := fmt.Sprintf(`(async () => {
			const r = await fetch(%q, {method: "QUERY", body: new URLSearchParams([
				["match_urlpattern", "https://example.com/books/:id"], ["last_event_id", "earliest"]])});
			const reader = r.body.getReader(), dec = new TextDecoder();
			let text = "";
			while (!text.includes("id: b1\n")) {
				const {value, done} = await reader.read();
				if (done) break;
				text += dec.decode(value);
			}
			reader.cancel();
			return r.status + " " + r.headers.get("Mercure-Last-Event-ID") + " " + text.includes("id: b1\n");
		})()`, hubURL)
		qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		res, err := chromedp.Run(qctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
		if err != nil || res != "200 earliest true" {
			t.Fatalf("QUERY subscription from fetch = %q, %v; want 200, Mercure-Last-Event-ID earliest and the replayed b1", res, err)
		}
	})

	t.Run("CookiePublishIsRefusedFromAnotherOrigin", func(t *testing.T) {
		js(fmt.Sprintf(`document.cookie = "mercureAuthorization=%s; path=/"; "ok"`, pubTok))
		if res := publish(`[["topic","https://example.com/books/3"],["id","c1"],["data","by cookie"]]`, ""); res != "200 c1" {
			t.Fatalf("cookie publish from the hub's own origin answered %q", res)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(foreignOrigin+"/test")); err != nil {
			t.Fatal(err)
		}
		res := publish(`[["topic","https://example.com/books/4"],["id","evil"],["data","forged"]]`, "")
		if !strings.HasPrefix(res, "403 ") {
			t.Fatalf("cookie publish from %s answered %q, want 403", foreignOrigin, res)
		}
	})
}
