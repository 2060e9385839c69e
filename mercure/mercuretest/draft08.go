package mercuretest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
)

// Tests of draft-dunglas-mercure-08, served beside draft-07 by the same
// Server on the same store; each names the section it checks.

// draft08Base is the hub's public URL in these tests, against which
// relative URL patterns and topics resolve.
const draft08Base = "https://hub.example.com/.well-known/mercure"

func withDraft08Base(c *mercure.Config) { c.PublicURL = draft08Base }

// testDraft08Matching: §"Matcher Types": exact is a byte-for-byte
// comparison (no template is read), urlpattern follows the URL Pattern
// standard with relative patterns and topics resolved against the hub's
// URL, "*" matches every topic whatever the type.
func testDraft08Matching(t *testing.T, open func(*testing.T) hub.Store) {
	cases := []struct {
		name   string
		param  string
		value  string
		topics []string
		want   bool
	}{
		{"ExactMatchesTheSameTopic", "match", "https://example.com/books/1", []string{"https://example.com/books/1"}, true},
		{"ExactIsCaseSensitive", "match", "https://example.com/Books/1", []string{"https://example.com/books/1"}, false},
		{"ExactReadsNoTemplate", "match", "https://example.com/books/{id}", []string{"https://example.com/books/1"}, false},
		{"ExplicitExactIsTheSame", "match_exact", "urn:isbn:1", []string{"urn:isbn:1"}, true},
		{"ExactDoesNotResolveRelativeValues", "match", "/books/1", []string{draft08Base[:len("https://hub.example.com")] + "/books/1"}, false},
		{"URLPatternMatchesANamedGroup", "match_urlpattern", "https://example.com/books/:id", []string{"https://example.com/books/42"}, true},
		{"URLPatternDoesNotMatchAnotherPath", "match_urlpattern", "https://example.com/books/:id", []string{"https://example.com/authors/42"}, false},
		{"URLPatternWildcard", "match_urlpattern", "https://example.com/*", []string{"https://example.com/a/b/c"}, true},
		{"RelativeURLPatternMatchesAnAbsoluteTopicOfTheHub", "match_urlpattern", "/books/:id", []string{"https://hub.example.com/books/7"}, true},
		{"RelativeURLPatternMatchesARelativeTopic", "match_urlpattern", "/books/:id", []string{"/books/7"}, true},
		{"RelativeURLPatternDoesNotMatchAnotherHost", "match_urlpattern", "/books/:id", []string{"https://other.example.com/books/7"}, false},
		{"URLPatternHostIsCaseInsensitive", "match_urlpattern", "https://EXAMPLE.com/books/:id", []string{"https://example.com/books/1"}, true},
		{"URLPatternPathIsCaseSensitive", "match_urlpattern", "https://example.com/Books/:id", []string{"https://example.com/books/1"}, false},
		{"ATopicThatIsNotAURLMatchesNoPattern", "match_urlpattern", "https://example.com/*", []string{"http://[::1"}, false},
		{"StarMatchesEveryTopicAsExact", "match", "*", []string{"urn:anything"}, true},
		{"StarMatchesEveryTopicAsURLPattern", "match_urlpattern", "*", []string{"urn:anything"}, true},
		{"AnAlternateTopicMatches", "match", "https://example.com/alt", []string{"https://example.com/canonical", "https://example.com/alt"}, true},
	}
	h := newHarness(t, open, withDraft08Base)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			marker := fmt.Sprintf("urn:marker08:%d", i)
			st := h.subscribe(q(c.param, c.value, "match", marker), nil)
			id := h.publish(url.Values{"topic": c.topics, "data": {"x"}})
			mid := h.publish(form("topic", marker, "data", "marker"))
			got := st.next().ID
			switch {
			case c.want && got != id:
				t.Fatalf("got %q, want the update %q", got, id)
			case !c.want && got != mid:
				t.Fatalf("got %q, want only the marker %q", got, mid)
			case c.want:
				if got := st.next().ID; got != mid {
					t.Fatalf("then got %q, want the marker", got)
				}
			}
		})
	}
	t.Run("SeveralMatchersOfBothTypes", func(t *testing.T) {
		st := h.subscribe(q("match", "urn:a", "match_urlpattern", "https://example.com/b/:x"), nil)
		a := h.publish(form("topic", "urn:a"))
		b := h.publish(form("topic", "https://example.com/b/1"))
		if got := st.nextIDs(2); !slices.Equal(got, []string{a, b}) {
			t.Fatalf("got %q, want %q", got, []string{a, b})
		}
	})
}

// testDraft08Refusals: §"Subscription": the 400 rules.
func testDraft08Refusals(t *testing.T, open func(*testing.T) hub.Store) {
	h := newHarness(t, open, func(c *mercure.Config) { withDraft08Base(c); c.MaxTopics = 3 })
	cases := []struct{ name, query string }{
		{"AnUnknownMatcherTypeIs400", q("match_regexp", "x")},
		{"TheMatchNamespaceIsCaseInsensitive", q("Match", "x")},
		{"AMisspelledMatcherTypeIs400", q("match", "x", "match_urlpatern", "y")},
		{"AC0ControlCharacterIs400", q("match", "a\x01b")},
		{"AC1ControlCharacterIs400", q("match", "a\u0085b")},
		{"DELIs400", q("match", "a\x7fb")},
		{"AFormatCharacterIs400", q("match", "a\u200bb")},
		{"InvalidUTF8Is400", "match=%ff"},
		{"AnEmptyMatcherIs400", q("match", "")},
		{"TooManyMatchersIs400", q("match", "1", "match", "2", "match", "3", "match", "4")},
		{"ATooLongMatcherIs400", q("match", strings.Repeat("x", hub.DefaultMaxSelectorBytes+1))},
		{"ATooLongURLPatternIs400", q("match_urlpattern", "https://example.com/"+strings.Repeat("x", hub.DefaultMaxSelectorBytes))},
		{"AMalformedURLPatternIs400", q("match_urlpattern", "https://example.com/(")},
		{"LastEventIDWithoutMatcherIs400", q("last_event_id", "earliest")},
		{"TopicBesideMatchIs400", q("match", "a", "topic", "b")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, status, body := h.trySubscribe(c.query, nil)
			if status != http.StatusBadRequest || strings.TrimSpace(body) == "" {
				t.Fatalf("subscribe %.80q = %d %q, want 400 with a reason", c.query, status, body)
			}
		})
	}
}

// testDraft08Replay: §"Reconnection, State Reconciliation, and Event
// Sourcing": last_event_id, the header's precedence, and the
// Mercure-Last-Event-ID response field with its earliest cases.
func testDraft08Replay(t *testing.T, open func(*testing.T) hub.Store) {
	ids := []string{"urn:r8:0", "urn:r8:1", "urn:r8:2"}
	h := newHarness(t, open, withDraft08Base)
	for _, id := range ids {
		h.publish(form("topic", "urn:r8", "id", id))
	}
	cases := []struct {
		name       string
		query      string
		header     http.Header
		wantHeader string
		want       []string
	}{
		{"LastEventIDParameterReplaysAfterIt", q("match", "urn:r8", "last_event_id", ids[0]), nil, ids[0], ids[1:]},
		{"TheHeaderTakesPrecedence", q("match", "urn:r8", "last_event_id", ids[0]), http.Header{"Last-Event-ID": {ids[1]}}, ids[1], ids[2:]},
		{"EarliestReplaysAllAndAnswersEarliest", q("match", "urn:r8", "last_event_id", "earliest"), nil, "earliest", ids},
		{"AnUnknownIDAnswersEarliest", q("match", "urn:r8", "last_event_id", "urn:nope"), nil, "earliest", ids},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := h.subscribe(c.query, c.header)
			if got := st.res.Header.Get("Mercure-Last-Event-ID"); got != c.wantHeader {
				t.Errorf("Mercure-Last-Event-ID %q, want %q", got, c.wantHeader)
			}
			if v, ok := st.res.Header["Last-Event-Id"]; ok {
				t.Errorf("draft-07's Last-Event-ID response header %q on a draft-08 stream", v)
			}
			if got := st.nextIDs(len(c.want)); !slices.Equal(got, c.want) {
				t.Fatalf("replayed %q, want %q", got, c.want)
			}
		})
	}
	t.Run("NoFieldWithoutReplay", func(t *testing.T) {
		st := h.subscribe(q("match", "urn:r8"), nil)
		if v, ok := st.res.Header["Mercure-Last-Event-Id"]; ok {
			t.Fatalf("Mercure-Last-Event-ID %q without a replay", v)
		}
	})
	t.Run("TheFieldIsExposedThroughCORS", func(t *testing.T) {
		h := newHarness(t, open, func(c *mercure.Config) { c.CORSOrigins = []string{"https://app.example.com"} })
		req, _ := http.NewRequest(http.MethodOptions, h.srv.URL+mercure.HubPath, nil)
		req.Header.Set("Origin", "https://app.example.com")
		r := h.do(req)
		if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Mercure-Last-Event-ID") {
			t.Fatalf("Access-Control-Expose-Headers = %q, want Mercure-Last-Event-ID in it", r.header.Get("Access-Control-Expose-Headers"))
		}
	})
}

// testDraftsSideBySide: both drafts on one endpoint and one history, and
// Config.Draft restricting the hub to one.
func testDraftsSideBySide(t *testing.T, open func(*testing.T) hub.Store) {
	t.Run("BothDraftsShareOneHistory", func(t *testing.T) {
		h := newHarness(t, open, nil)
		s07 := h.subscribe(q("topic", "https://example.com/books/{id}"), nil)
		s08 := h.subscribe(q("match_urlpattern", "https://example.com/books/:id"), nil)
		id := h.publish(form("topic", "https://example.com/books/1"))
		if a, b := s07.next().ID, s08.next().ID; a != id || b != id {
			t.Fatalf("draft-07 got %q, draft-08 got %q, want %q on both", a, b, id)
		}
	})
	cases := []struct {
		name, draft, query string
		want               int
	}{
		{"ADraft07HubRefusesDraft08Parameters", "07", q("match", "a"), http.StatusBadRequest},
		{"ADraft07HubServesDraft07", "07", q("topic", "a"), http.StatusOK},
		{"ADraft08HubRefusesDraft07Parameters", "08", q("topic", "a"), http.StatusBadRequest},
		{"ADraft08HubServesDraft08", "08", q("match", "a"), http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, open, func(cfg *mercure.Config) { cfg.Draft = c.draft })
			st, status, body := h.trySubscribe(c.query, nil)
			if st != nil {
				st.close()
			}
			if status != c.want {
				t.Fatalf("subscribe %q = %d %q, want %d", c.query, status, body, c.want)
			}
		})
	}
}

// testDraft08Publish: §"Publication" on a hub restricted to draft-08: 200
// with the id as text/plain, and the 400 rules.
func testDraft08Publish(t *testing.T, open func(*testing.T) hub.Store) {
	h := newHarness(t, open, func(c *mercure.Config) { withIssuer(c); c.Draft = "08" })
	cases := []struct {
		name string
		form url.Values
		want int
	}{
		{"AnUpdateIsAnswered200WithItsID", form("topic", "https://example.com/a", "id", "urn:ok"), http.StatusOK},
		{"ARelativeTopicOutsideTheNamespaceIsAccepted", form("topic", "/books/1"), http.StatusOK},
		{"TopicStarIs400", form("topic", "*"), http.StatusBadRequest},
		{"ATopicInTheHubNamespaceIs400", form("topic", "https://hub.example.com/.well-known/mercure/subscriptions/x"), http.StatusBadRequest},
		{"ARelativeTopicInTheHubNamespaceIs400", form("topic", "/.well-known/mercure"), http.StatusBadRequest},
		{"AnAlternateTopicInTheNamespaceIs400", form("topic", "https://example.com/a", "topic", "/.well-known/mercure/x"), http.StatusBadRequest},
		{"APercentEncodedNamespaceIs400", form("topic", "/.well-known/%6Dercure/x"), http.StatusBadRequest},
		{"ADotSegmentNamespaceIs400", form("topic", "/.well-known/mercure/../mercure/x"), http.StatusBadRequest},
		{"TheNamespaceOnAnotherHostIs400Too", form("topic", "https://other.example.com/.well-known/mercure/x"), http.StatusBadRequest},
		{"AnIDStartingWithHashIs400", form("topic", "urn:t", "id", "#x"), http.StatusBadRequest},
		{"IDEarliestIs400", form("topic", "urn:t", "id", "earliest"), http.StatusBadRequest},
		{"AnIDWithAControlCharacterIs400", form("topic", "urn:t", "id", "a\tb"), http.StatusBadRequest},
		{"AnIDWithAFormatCharacterIs400", form("topic", "urn:t", "id", "a\u200eb"), http.StatusBadRequest},
		{"ATypeWithAControlCharacterIs400", form("topic", "urn:t", "type", "a\x1bb"), http.StatusBadRequest},
		{"TypeMercureIs400", form("topic", "urn:t", "type", "mercure"), http.StatusBadRequest},
		{"ARetryThatIsNotDigitsIs400", form("topic", "urn:t", "retry", "+5"), http.StatusBadRequest},
		{"ATopicWithAControlCharacterIs400", form("topic", "urn:t\x01"), http.StatusBadRequest},
		{"ATopicWithAFormatCharacterIs400", form("topic", "urn:t\u202e"), http.StatusBadRequest},
		{"MoreTopicsThanTheLimitIs413", url.Values{"topic": slices.Repeat([]string{"urn:t"}, mercure.DefaultMaxTopics+1)}, http.StatusRequestEntityTooLarge},
		{"DataOverTheLimitIs413", form("topic", "urn:t", "data", strings.Repeat("x", mercure.DefaultMaxDataBytes+1)), http.StatusRequestEntityTooLarge},
		{"AnIDOverTheLimitIs413", form("topic", "urn:t", "id", strings.Repeat("x", mercure.DefaultMaxIDBytes+1)), http.StatusRequestEntityTooLarge},
		{"AnUnknownFieldIsIgnored", form("topic", "urn:t", "future_field", "x"), http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(h.publishReq(c.form.Encode(), pubToken08(t, "*")))
			if r.status != c.want || strings.TrimSpace(r.body) == "" {
				t.Fatalf("publish %v = %d %q, want %d with a body", c.form, r.status, r.body, c.want)
			}
			if c.want == http.StatusOK {
				if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type %q, want text/plain; charset=utf-8", ct)
				}
				if id := c.form.Get("id"); id != "" && r.body != id {
					t.Errorf("body %q, want the id %q", r.body, id)
				}
			}
		})
	}
}
