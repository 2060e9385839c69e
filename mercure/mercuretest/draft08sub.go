package mercuretest

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
)

// querySubscribe opens a QUERY subscription with rawQuery in the URL and
// body as its content, of type contentType.
func (h *harness) querySubscribe(rawQuery, body, contentType string, header http.Header) (*stream, int, string) {
	h.t.Helper()
	hdr := http.Header{}
	maps.Copy(hdr, header)
	if contentType != "" {
		hdr.Set("Content-Type", contentType)
	}
	return h.open("QUERY", rawQuery, strings.NewReader(body), hdr)
}

// testDraft08QueryMethod: §"Subscription": the QUERY method with a form
// body, the union of its parameters with the query string's, the query
// string's last_event_id first and the Last-Event-ID header before both,
// the body under the same rules as the query string; 415 for another body
// type, 413 for a body over the limit.
func testDraft08QueryMethod(t *testing.T, open func(*testing.T) hub.Store) {
	h := newHarness(t, open, func(c *mercure.Config) { withDraft08Base(c); c.MaxQueryBytes = 4096 })
	ids := []string{"urn:qm:0", "urn:qm:1", "urn:qm:2"}
	for _, id := range ids {
		h.publish(form("topic", "urn:qm", "id", id))
	}
	t.Run("MatchersInAFormBodySubscribe", func(t *testing.T) {
		st, status, body := h.querySubscribe("", q("match", "urn:qm:live"), "application/x-www-form-urlencoded", nil)
		if status != http.StatusOK {
			t.Fatalf("QUERY = %d %q, want 200", status, body)
		}
		if ct := st.res.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type %q, want text/event-stream", ct)
		}
		id := h.publish(form("topic", "urn:qm:live"))
		if got := st.next().ID; got != id {
			t.Fatalf("got %q, want %q", got, id)
		}
	})
	t.Run("TheHubTakesTheUnionOfQueryStringAndBody", func(t *testing.T) {
		st, status, body := h.querySubscribe(q("match", "urn:qm:a"), q("match", "urn:qm:b"), "application/x-www-form-urlencoded; charset=utf-8", nil)
		if status != http.StatusOK {
			t.Fatalf("QUERY = %d %q, want 200", status, body)
		}
		a := h.publish(form("topic", "urn:qm:a"))
		b := h.publish(form("topic", "urn:qm:b"))
		if got := st.nextIDs(2); !slices.Equal(got, []string{a, b}) {
			t.Fatalf("got %q, want %q", got, []string{a, b})
		}
	})
	replays := []struct {
		name, query, body string
		header            http.Header
		wantHeader        string
		want              []string
	}{
		{"ALastEventIDInTheBodyReplays", q("match", "urn:qm"), q("last_event_id", ids[0]), nil, ids[0], ids[1:]},
		{"ALastEventIDInBothUsesTheQueryStrings", q("match", "urn:qm", "last_event_id", ids[1]), q("last_event_id", ids[0]), nil, ids[1], ids[2:]},
		{"TheLastEventIDHeaderTakesPrecedenceOverBoth", q("match", "urn:qm", "last_event_id", ids[1]), q("last_event_id", ids[1]),
			http.Header{"Last-Event-ID": {ids[0]}}, ids[0], ids[1:]},
	}
	for _, c := range replays {
		t.Run(c.name, func(t *testing.T) {
			st, status, body := h.querySubscribe(c.query, c.body, "application/x-www-form-urlencoded", c.header)
			if status != http.StatusOK {
				t.Fatalf("QUERY = %d %q, want 200", status, body)
			}
			if got := st.res.Header.Get("Mercure-Last-Event-ID"); got != c.wantHeader {
				t.Errorf("Mercure-Last-Event-ID %q, want %q", got, c.wantHeader)
			}
			if got := st.nextIDs(len(c.want)); !slices.Equal(got, c.want) {
				t.Fatalf("replayed %q, want %q", got, c.want)
			}
		})
	}
	refusals := []struct {
		name, query, body, contentType string
		want                           int
	}{
		{"TheReservedNamespaceRuleAppliesToTheBody", "", q("match", "a", "match_regexp", "b"), "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"TheValueConstraintsApplyToTheBody", "", q("match", "a\u200bb"), "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"ABodyWithoutMatcherIs400", "", q("last_event_id", "earliest"), "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"AJSONBodyIs415", "", `{"match":"a"}`, "application/json", http.StatusUnsupportedMediaType},
		{"ABodyWithoutContentTypeIs415", "", q("match", "a"), "", http.StatusUnsupportedMediaType},
		{"ABodyOverTheLimitIs413", "", q("match", strings.Repeat("x", 5000)), "application/x-www-form-urlencoded", http.StatusRequestEntityTooLarge},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			st, status, body := h.querySubscribe(c.query, c.body, c.contentType, nil)
			if st != nil {
				st.close()
			}
			if status != c.want || strings.TrimSpace(body) == "" {
				t.Fatalf("QUERY %.60q = %d %q, want %d with a reason", c.body, status, body, c.want)
			}
		})
	}
	t.Run("A415NamesTheAcceptedBodyType", func(t *testing.T) {
		req, _ := http.NewRequest("QUERY", h.srv.URL+mercure.HubPath, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		if r := h.do(req); r.header.Get("Accept-Query") != "application/x-www-form-urlencoded" {
			t.Fatalf("Accept-Query %q, want application/x-www-form-urlencoded", r.header.Get("Accept-Query"))
		}
	})
	t.Run("CORSAllowsQUERY", func(t *testing.T) {
		h := newHarness(t, open, func(c *mercure.Config) { c.CORSOrigins = []string{"https://app.example.com"} })
		req, _ := http.NewRequest(http.MethodOptions, h.srv.URL+mercure.HubPath, nil)
		req.Header.Set("Origin", "https://app.example.com")
		req.Header.Set("Access-Control-Request-Method", "QUERY")
		r := h.do(req)
		if !strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "QUERY") {
			t.Fatalf("Access-Control-Allow-Methods %q, want QUERY in it", r.header.Get("Access-Control-Allow-Methods"))
		}
	})
}

// testNotAcceptable: a subscription is only ever text/event-stream (both
// drafts, §"Subscription": the hub MUST send text/event-stream events): a
// request whose Accept field excludes it is answered 406 (RFC 9110
// §15.5.7), anything that admits it is served.
func testNotAcceptable(t *testing.T, open func(*testing.T) hub.Store) {
	h := newHarness(t, open, nil)
	cases := []struct {
		name, accept string
		want         int
	}{
		{"NoAcceptIsServed", "", http.StatusOK},
		{"EventStreamIsServed", "text/event-stream", http.StatusOK},
		{"AnyTypeIsServed", "*/*", http.StatusOK},
		{"AnyTextIsServed", "text/*;q=0.5", http.StatusOK},
		{"ABrowserNavigationIsServed", "text/html,application/xhtml+xml,*/*;q=0.8", http.StatusOK},
		{"JSONOnlyIs406", "application/json", http.StatusNotAcceptable},
		{"EventStreamWithQualityZeroIs406", "text/event-stream;q=0, */*", http.StatusNotAcceptable},
		{"TheMostSpecificRangeWins", "text/*;q=0, text/event-stream", http.StatusOK},
	}
	for _, draft := range []struct{ name, query string }{{"Draft07", q("topic", "urn:na")}, {"Draft08", q("match", "urn:na")}} {
		for _, c := range cases {
			t.Run(draft.name+"_"+c.name, func(t *testing.T) {
				hdr := http.Header{}
				if c.accept != "" {
					hdr.Set("Accept", c.accept)
				}
				st, status, body := h.trySubscribe(draft.query, hdr)
				if st != nil {
					st.close()
				}
				if status != c.want {
					t.Fatalf("Accept %q: %d %q, want %d", c.accept, status, body, c.want)
				}
			})
		}
	}
}

// subscriptionEvents reads watcher's events until it has one for each
// match (of subscriber, when not ""), checking that each is of the SSE
// type "mercure" and has an id, and returns their documents by match.
func subscriptionEvents(t *testing.T, watcher *stream, subscriber string, match ...string) map[string]map[string]any {
	t.Helper()
	docs := map[string]map[string]any{}
	for len(docs) < len(match) {
		ev := watcher.next()
		var doc map[string]any
		if err := json.Unmarshal([]byte(ev.Data), &doc); err != nil {
			t.Fatalf("event data %q: %v", ev.Data, err)
		}
		m, _ := doc["match"].(string)
		if !slices.Contains(match, m) || subscriber != "" && doc["subscriber"] != subscriber {
			continue
		}
		if ev.Type != "mercure" || ev.ID == "" {
			t.Fatalf("subscription event of type %q and id %q, want type mercure and an id", ev.Type, ev.ID)
		}
		docs[m] = doc
	}
	return docs
}

// testDraft08SubscriptionEvents: §"Subscription Events" and
// §"Subscription API" in draft-08's format, beside draft-07's.
func testDraft08SubscriptionEvents(t *testing.T, open func(*testing.T) hub.Store) {
	h := newHarness(t, open, func(c *mercure.Config) {
		withIssuer(c)
		c.Subscriptions = true
		c.CORSOrigins = []string{"https://app.example.com"}
	})
	all := bearer(subToken08(t, "*"))
	watcher := h.subscribe(q("match_urlpattern", "/.well-known/mercure/subscriptions/*"), all)
	const pattern = "https://example.com/books/:id"
	payloadTok := AccessToken(t, SubscriberKey, draft08Base, nil,
		Grant{Actions: []string{"subscribe"}, Topics: []string{pattern, "urn:exact:1"}, Payload: map[string]any{"user": "kim"}})
	st := h.subscribe(q("match_urlpattern", pattern, "match", "urn:exact:1"), bearer(payloadTok))
	s07 := h.subscribe(q("topic", "https://example.com/draft07/{id}"), nil)
	defer s07.close()

	docs := subscriptionEvents(t, watcher, "", pattern, "urn:exact:1")
	doc := docs[pattern]
	subscriber, _ := doc["subscriber"].(string)
	wantID := "/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid/" + strings.ReplaceAll(url.PathEscape(subscriber), ":", "%3A")
	t.Run("AnEventIsPublishedWhenASubscriptionIsCreated", func(t *testing.T) {
		want := map[string]any{"id": wantID, "type": "subscription", "match_type": "urlpattern", "match": pattern,
			"subscriber": subscriber, "active": true, "payload": map[string]any{"user": "kim"}}
		if !strings.HasPrefix(subscriber, "urn:uuid:") || !jsonEqual(doc, want) {
			t.Fatalf("subscription event\n%v\nwant\n%v", doc, want)
		}
	})
	t.Run("EachMatcherIsASubscriptionOfItsType", func(t *testing.T) {
		d := docs["urn:exact:1"]
		if d["subscriber"] != subscriber || d["match_type"] != "exact" || d["id"] != "/.well-known/mercure/subscriptions/exact/urn%3Aexact%3A1/"+escapeAll(subscriber) {
			t.Fatalf("exact subscription event %v", d)
		}
	})
	t.Run("TheEventIsPrivate", func(t *testing.T) {
		anon := h.subscribe(q("match_urlpattern", "/.well-known/mercure/subscriptions/*", "match", "urn:private-probe"), nil)
		other := h.subscribe(q("match", "urn:another"), nil)
		defer other.close()
		probe := h.publish(form("topic", "urn:private-probe"))
		if got := anon.next().ID; got != probe {
			t.Fatalf("an anonymous subscriber got %q, want only the probe %q", got, probe)
		}
	})

	api := func(path string, header http.Header) response {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
		maps.Copy(req.Header, all)
		maps.Copy(req.Header, header)
		return h.do(req)
	}
	json08 := http.Header{"Accept": {"application/json"}}
	linkRE := regexp.MustCompile(`^<` + regexp.QuoteMeta(draft08Base) + `>; rel="mercure"; last-event-id="([^"]+)"; type="mercure"; content-type="application/json"$`)
	var cursor string
	t.Run("TheCollectionIsJSONWithTheCursorOnTheLinkHeader", func(t *testing.T) {
		r := api("/.well-known/mercure/subscriptions", json08)
		var coll map[string]any
		json.Unmarshal([]byte(r.body), &coll)
		m := linkRE.FindStringSubmatch(r.header.Get("Link"))
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" || m == nil {
			t.Fatalf("collection = %d %v %q", r.status, r.header, r.body)
		}
		cursor = m[1]
		if coll["id"] != "/.well-known/mercure/subscriptions" || coll["type"] != "subscriptions" || coll["last_event_id"] != cursor {
			t.Fatalf("collection document %v", coll)
		}
		var matches []string
		for _, d := range coll["subscriptions"].([]any) {
			matches = append(matches, d.(map[string]any)["match"].(string))
		}
		slices.Sort(matches)
		// Every draft-08 subscription (the watcher's, the probe's…), none of draft-07's.
		for _, m := range matches {
			if strings.Contains(m, "draft07") {
				t.Fatalf("the draft-08 collection lists a draft-07 subscription: %q", matches)
			}
		}
		if !slices.Contains(matches, pattern) || !slices.Contains(matches, "urn:exact:1") {
			t.Fatalf("collection lists %q, want %q and urn:exact:1 in it", matches, pattern)
		}
	})
	t.Run("TheCollectionOfAMatcher", func(t *testing.T) {
		r := api("/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid", nil)
		var coll map[string]any
		json.Unmarshal([]byte(r.body), &coll)
		subs, _ := coll["subscriptions"].([]any)
		if r.status != 200 || len(subs) != 1 || subs[0].(map[string]any)["id"] != wantID || !linkRE.MatchString(r.header.Get("Link")) {
			t.Fatalf("matcher collection = %d %v %q", r.status, r.header, r.body)
		}
	})
	t.Run("ASubscriptionIsTheEventDocumentUnmodified", func(t *testing.T) {
		r := api(wantID, nil)
		var got map[string]any
		json.Unmarshal([]byte(r.body), &got)
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" || !jsonEqual(got, doc) || !linkRE.MatchString(r.header.Get("Link")) {
			t.Fatalf("single subscription = %d %v %q, want the event document %v", r.status, r.header, r.body, doc)
		}
		if r.header.Get("ETag") == "" || r.header.Get("Cache-Control") != "must-revalidate" {
			t.Fatalf("ETag %q, Cache-Control %q: want a validator and must-revalidate", r.header.Get("ETag"), r.header.Get("Cache-Control"))
		}
	})
	t.Run("AnUnknownSubscriptionIs404", func(t *testing.T) {
		if r := api("/.well-known/mercure/subscriptions/exact/urn%3Aexact%3A1/urn%3Anobody", nil); r.status != 404 {
			t.Fatalf("unknown subscriber = %d, want 404", r.status)
		}
	})
	t.Run("AnUnknownMatcherTypeIs400", func(t *testing.T) {
		if r := api("/.well-known/mercure/subscriptions/regexp/x/y", nil); r.status != 400 {
			t.Fatalf("unknown matcher type = %d %q, want 400", r.status, r.body)
		}
	})
	t.Run("ATokenWithoutSubscribeOnThePathIs403", func(t *testing.T) {
		r := api("/.well-known/mercure/subscriptions", http.Header{"Authorization": {"Bearer " + subToken08(t, "https://example.com/other")}})
		if r.status != http.StatusForbidden {
			t.Fatalf("subscriptions API with a token for other topics = %d %q, want 403", r.status, r.body)
		}
	})
	t.Run("TheLinkHeaderIsExposedThroughCORS", func(t *testing.T) {
		r := api("/.well-known/mercure/subscriptions", http.Header{"Origin": {"https://app.example.com"}, "Accept": {"application/json"}})
		if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Link") {
			t.Fatalf("Access-Control-Expose-Headers %q, want Link in it", r.header.Get("Access-Control-Expose-Headers"))
		}
	})
	t.Run("ADraft08TokenGetsTheDraft08Collection", func(t *testing.T) {
		r := api("/.well-known/mercure/subscriptions", nil)
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("collection with a draft-08 token = %d %v %q", r.status, r.header, r.body)
		}
	})
	t.Run("Draft07KeepsItsFormat", func(t *testing.T) {
		r := api("/.well-known/mercure/subscriptions", http.Header{"Authorization": {"Bearer " + subToken(t, "*")}})
		var coll map[string]any
		json.Unmarshal([]byte(r.body), &coll)
		subs, _ := coll["subscriptions"].([]any)
		if r.status != 200 || r.header.Get("Content-Type") != "application/ld+json" || coll["type"] != "Subscriptions" || len(subs) != 1 ||
			subs[0].(map[string]any)["topic"] != "https://example.com/draft07/{id}" {
			t.Fatalf("draft-07 collection = %d %v %q", r.status, r.header, r.body)
		}
	})
	t.Run("AnEventIsPublishedWhenASubscriptionIsTerminated", func(t *testing.T) {
		// Resuming from the API's cursor loses nothing: the events after
		// it are replayed.
		resumed := h.subscribe(q("match_urlpattern", "/.well-known/mercure/subscriptions/*", "last_event_id", cursor), all)
		st.close()
		for _, w := range []*stream{watcher, resumed} {
			w.t = t
			d := subscriptionEvents(t, w, subscriber, pattern)[pattern]
			if d["active"] != false || d["id"] != wantID {
				t.Fatalf("event after the subscriber left = %v, want active false", d)
			}
		}
	})
}

// escapeAll percent-encodes every byte but the unreserved characters.
func escapeAll(s string) string {
	return strings.NewReplacer(":", "%3A", "/", "%2F").Replace(url.PathEscape(s))
}

// jsonEqual reports whether a and b encode to the same JSON.
func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// testPrivateFieldPresence: §"Publication": the presence of the private
// field marks an update private, whatever its value (none, empty, "off").
func testPrivateFieldPresence(t *testing.T, open func(*testing.T) hub.Store) {
	h := newHarness(t, open, nil)
	for _, body := range []string{"topic=urn%3Apf&private", "topic=urn%3Apf&private=", "topic=urn%3Apf&private=off"} {
		t.Run(body, func(t *testing.T) {
			anon := h.subscribe(q("match", "urn:pf", "match", "urn:pf:marker"), nil)
			r := h.do(h.publishReq(body, pubToken(t, "*")))
			if r.status != http.StatusOK {
				t.Fatalf("publish %q = %d %q", body, r.status, r.body)
			}
			marker := h.publish(form("topic", "urn:pf:marker"))
			if got := anon.next().ID; got != marker {
				t.Fatalf("an anonymous subscriber got %q (published with %q), want only the public marker", got, body)
			}
		})
	}
}
