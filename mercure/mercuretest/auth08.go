package mercuretest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
)

// Issuer08 is the trusted issuer of the suite's draft-08 access tokens,
// bound to PublisherKey and SubscriberKey.
const Issuer08 = "https://issuer.example.com"

// withIssuer trusts Issuer08; the audience is the hub's public URL.
func withIssuer(c *mercure.Config) {
	c.PublicURL = draft08Base
	c.Issuers = []mercure.Issuer{{ID: Issuer08, PublisherKeys: []string{PublisherKey}, SubscriberKeys: []string{SubscriberKey}}}
}

// Grant is one Mercure authorization detail of a draft-08 token: actions
// on topic matchers ("urlpattern:" before a matcher makes it a URL
// pattern).
type Grant struct {
	Actions []string
	Topics  []string
	Payload map[string]any
}

// Detail returns g as an authorization_details entry.
func (g Grant) Detail() map[string]any {
	var topics []map[string]any
	for _, t := range g.Topics {
		if p, ok := strings.CutPrefix(t, "urlpattern:"); ok {
			topics = append(topics, map[string]any{"match": p, "match_type": "urlpattern"})
		} else {
			topics = append(topics, map[string]any{"match": t})
		}
	}
	d := map[string]any{"type": mercure.AuthorizationDetailType, "actions": g.Actions, "topics": topics}
	if g.Payload != nil {
		d["payload"] = g.Payload
	}
	return d
}

// AccessToken returns an RFC 9068 access token (typ at+jwt) signed with
// key (HS256) by Issuer08 for audience aud, valid for a minute, carrying
// the claims RFC 9068 asks issuers for and the given grants; extra claims
// are added or, when nil, removed.
func AccessToken(t testing.TB, key, aud string, extra jwt.MapClaims, grants ...Grant) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": Issuer08, "aud": aud, "sub": "urn:test:subject", "client_id": "mercuretest",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": uuid.NewString(),
	}
	var details []map[string]any
	for _, g := range grants {
		details = append(details, g.Detail())
	}
	if details != nil {
		claims["authorization_details"] = details
	}
	for k, v := range extra {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pubToken08(t *testing.T, matchers ...string) string {
	return AccessToken(t, PublisherKey, draft08Base, nil, Grant{Actions: []string{"publish"}, Topics: matchers})
}

func subToken08(t *testing.T, matchers ...string) string {
	return AccessToken(t, SubscriberKey, draft08Base, nil, Grant{Actions: []string{"subscribe"}, Topics: matchers})
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// testDraft08Subscribers: §"Subscribers" and §"Private Update Audience": a
// private update reaches a subscriber whose token grants subscribe on one
// of its topics (canonical or alternate), whatever its routing matchers.
func testDraft08Subscribers(t *testing.T, open func(*testing.T) hub.Store) {
	h := newHarness(t, open, withIssuer)
	cases := []struct {
		name   string
		header http.Header
		want   bool
	}{
		{"WithheldFromAnonymousSubscribers", nil, false},
		{"WithheldWhenTheTokenGrantsOtherTopics", bearer(subToken08(t, "https://example.com/books/7")), false},
		{"WithheldWhenTheGrantIsPublishOnly", bearer(AccessToken(t, SubscriberKey, draft08Base, nil, Grant{Actions: []string{"publish"}, Topics: []string{"*"}})), false},
		{"WithheldWhenTheActionIsUnknown", bearer(AccessToken(t, SubscriberKey, draft08Base, nil, Grant{Actions: []string{"read"}, Topics: []string{"*"}})), false},
		{"DeliveredForAnExactGrantOnTheCanonicalTopic", bearer(subToken08(t, "https://example.com/books/1")), true},
		{"DeliveredForAURLPatternGrantOnTheAlternateTopic", bearer(subToken08(t, "urlpattern:https://example.com/users/42/*")), true},
		{"DeliveredForTheWildcard", bearer(subToken08(t, "*")), true},
		{"ExactGrantsReadNoTemplate", bearer(subToken08(t, "https://example.com/books/:id")), false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			marker := fmt.Sprintf("urn:p8:%d", i)
			st := h.subscribe(q("match_urlpattern", "https://example.com/books/:id", "match", marker), c.header)
			id := h.publish08(url.Values{"topic": {"https://example.com/books/1", "https://example.com/users/42/books/1"}, "private": {"on"}, "data": {"secret"}})
			mid := h.publish08(form("topic", marker))
			want := mid
			if c.want {
				want = id
			}
			if got := st.next().ID; got != want {
				t.Fatalf("first event %q, want %q", got, want)
			}
		})
	}
}

// testDraft08EventReplay: §"Authorization on Event Replay": replayed
// events are checked against the token presented at reconnection, not the
// one the subscriber held when they were published.
func testDraft08EventReplay(t *testing.T, open func(*testing.T) hub.Store) {
	h := newHarness(t, open, withIssuer)
	first := h.publish08(form("topic", "urn:rp:start", "id", "urn:rp:0"))
	private := h.publish08(form("topic", "https://example.com/rp/secret", "private", "on", "id", "urn:rp:1"))
	public := h.publish08(form("topic", "https://example.com/rp/public", "id", "urn:rp:2"))
	query := q("match_urlpattern", "https://example.com/rp/*", "last_event_id", first)
	cases := []struct {
		name  string
		token string
		want  []string
	}{
		{"ATokenStillGrantingTheTopicReplaysThePrivateEvent", subToken08(t, "https://example.com/rp/secret"), []string{private, public}},
		{"ATokenWhoseScopeShrankDoesNotReplayIt", subToken08(t, "https://example.com/rp/other"), []string{public}},
		{"NoTokenDoesNotReplayIt", "", []string{public}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var header http.Header
			if c.token != "" {
				header = bearer(c.token)
			}
			st := h.subscribe(query, header)
			if got := st.nextIDs(len(c.want)); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("replayed %q, want %q", got, c.want)
			}
		})
	}
	t.Run("TheSameHoldsForDraft07Requests", func(t *testing.T) {
		st := h.subscribe(q("topic", "https://example.com/rp/{x}", "lastEventID", first), bearer(subToken(t, "https://example.com/rp/other")))
		if got := st.next().ID; got != public {
			t.Fatalf("replayed %q first, want %q (the private event withheld)", got, public)
		}
	})
}

// publish08 publishes form with a draft-08 token allowed to publish
// anywhere and fails the test unless it is accepted; it returns the id.
func (h *harness) publish08(form url.Values) string {
	h.t.Helper()
	r := h.do(h.publishReq(form.Encode(), pubToken08(h.t, "*")))
	if r.status != http.StatusOK {
		h.t.Fatalf("publish %v = %d %q", form, r.status, r.body)
	}
	return r.body
}
