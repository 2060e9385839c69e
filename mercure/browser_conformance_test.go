package mercure_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssehub/ssehub/internal/browsertest"
	"github.com/ssehub/ssehub/mercure"
)

// conformanceCase is one of the data-driven delivery cases of Mercure's
// conformance suite (conformance-tests/mercure.spec.ts): an update on
// topics, a subscription with selectors, and whether it must arrive.
type conformanceCase struct {
	name      string
	topics    []string
	selectors []selector
	received  bool
	private   bool
}

// selector is one subscribe parameter: its name and value.
type selector struct{ param, value string }

// conformanceCases returns the suite's cases in the parameters of one
// draft: draft-07 selects with topic (URI templates), draft-08 with match
// and match_urlpattern. r is the random part of the suite's topics.
func conformanceCases(draft string, r [5]string) []conformanceCase {
	exact, pattern := "match", "match_urlpattern"
	tmpl := func(v string) string { return v + "/:random" }
	if draft == "07" {
		exact, pattern = "topic", "topic"
		tmpl = func(v string) string { return v + "/{random}" }
	}
	uri := "https://example.net/foo/"
	return []conformanceCase{
		{"RawString", []string{r[0]}, []selector{{exact, r[0]}}, true, false},
		{"MultipleTopicSelectors", []string{r[2]}, []selector{{exact, "foo"}, {exact, r[2]}}, true, false},
		{"URI", []string{uri + r[3]}, []selector{{exact, uri + r[3]}}, true, false},
		{"URLPatternOrTemplate", []string{uri + r[4]}, []selector{{pattern, tmpl("https://example.net/foo")}}, true, false},
		{"NonMatchingRawString", []string{"will-not-match"}, []selector{{exact, "another-name"}}, false, false},
		{"NonMatchingURI", []string{uri + "will-not-match"}, []selector{{exact, uri + "another-name"}}, false, false},
		{"NonMatchingURLPatternOrTemplate", []string{uri + "will-not-match"}, []selector{{pattern, tmpl("https://example.net/bar")}}, false, false},
		// The private cases publish the same topics, so the same ids (the
		// suite's id is derived from the topics): the hub must accept an
		// id twice.
		{"PrivateRawString", []string{r[0]}, []selector{{exact, r[0]}}, false, true},
		{"PrivateURI", []string{uri + r[3]}, []selector{{exact, uri + r[3]}}, false, true},
		{"PrivateURLPatternOrTemplate", []string{uri + r[4]}, []selector{{pattern, tmpl("https://example.net/foo")}}, false, true},
	}
}

// conformanceScript adds to the test page an EventSource that can be
// closed: a browser holds at most six HTTP/1.1 connections per host, so
// each case closes its own before the next.
const conformanceScript = `<script>
window.sources = {};
function listenClosable(name, url) {
  received[name] = [];
  const es = new EventSource(url);
  sources[name] = es;
  es.onmessage = e => received[name].push({type: e.type, id: e.lastEventId, data: e.data});
  return new Promise((resolve, reject) => {
    es.onopen = () => resolve(true);
    es.onerror = () => { if (es.readyState === EventSource.CLOSED) reject(new Error("refused")); };
  });
}
</script>`

// TestBrowser_ConformanceDeliveryCases runs, for each draft, the delivery
// cases of Mercure's conformance suite in headless Chromium: a real
// EventSource subscribes, a real fetch publishes with the suite's id
// scheme (id-<topics as JSON>), and a marker published after each update
// tells, without a timeout, whether the update arrived before it.
func TestBrowser_ConformanceDeliveryCases(t *testing.T) {
	mux := http.NewServeMux()
	_, origin := startOn(t, mux)
	hubSrv, err := mercure.New(mercure.Config{PublisherJWTKey: browserPubKey, SubscriberJWTKey: browserSubKey, Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hubSrv.Close() })
	hubSrv.Register(mux)
	mux.HandleFunc("GET /test", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page+conformanceScript)
	})
	hubURL := origin + mercure.HubPath
	ctx := browsertest.Start(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(origin+"/test")); err != nil {
		t.Fatal(err)
	}
	js := func(t *testing.T, expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	pubTok := hmacToken(t, browserPubKey, map[string]any{"publish": []string{"*"}})
	random := [5]string{}
	for i := range random {
		random[i] = fmt.Sprintf("r%d-%d", i, time.Now().UnixNano())
	}
	for _, draft := range []string{"07", "08"} {
		t.Run("Draft"+draft, func(t *testing.T) {
			for i, c := range conformanceCases(draft, random) {
				t.Run(c.name, func(t *testing.T) {
					name := fmt.Sprintf("d%s-%d", draft, i)
					marker := "urn:marker:" + name
					q := url.Values{}
					for _, s := range c.selectors {
						q.Add(s.param, s.value)
					}
					markerParam := "match"
					if draft == "07" {
						markerParam = "topic"
					}
					q.Add(markerParam, marker)
					if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf("listenClosable(%q, %q)", name, hubURL+"?"+q.Encode()), chromedp.EvalAwaitPromise)); err != nil {
						t.Fatalf("EventSource did not open: %v", err)
					}
					defer js(t, fmt.Sprintf("sources[%q].close(); 'closed'", name))
					topics, _ := json.Marshal(c.topics)
					id := "id-" + string(topics)
					pairs := [][2]string{{"id", id}, {"data", "data for " + c.name}}
					for _, tp := range c.topics {
						pairs = append(pairs, [2]string{"topic", tp})
					}
					if c.private {
						pairs = append(pairs, [2]string{"private", "on"})
					}
					body, _ := json.Marshal(pairs)
					if res := js(t, fmt.Sprintf("publish(%q, %s, %q)", hubURL, body, pubTok)); res != "200 "+id {
						t.Fatalf("publish answered %q, want 200 %s", res, id)
					}
					markerBody, _ := json.Marshal([][2]string{{"topic", marker}, {"id", marker}, {"data", "marker"}})
					if res := js(t, fmt.Sprintf("publish(%q, %s, %q)", hubURL, markerBody, pubTok)); res != "200 "+marker {
						t.Fatalf("marker publish answered %q", res)
					}
					pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
					defer cancel()
					if _, err := chromedp.Run(pctx, chromedp.Poll[bool](fmt.Sprintf("received[%q].some(e => e.id === %q)", name, marker))); err != nil {
						t.Fatalf("the marker never arrived (got %s)", js(t, fmt.Sprintf("JSON.stringify(received[%q])", name)))
					}
					got := js(t, fmt.Sprintf("JSON.stringify(received[%q].filter(e => e.id === %q))", name, id))
					want := "[]"
					if c.received {
						w, _ := json.Marshal([]struct {
							Type string `json:"type"`
							ID   string `json:"id"`
							Data string `json:"data"`
						}{{"message", id, "data for " + c.name}})
						want = string(w)
					}
					if got != want {
						t.Fatalf("EventSource got %s of the update, want %s", got, want)
					}
				})
			}
		})
	}
}
