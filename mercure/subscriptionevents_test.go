package mercure_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/mercure/mercuretest"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/store/memory"
)

// Anonymous clients cannot flush the history by subscribing (issue 11,
// finding 5): with a history of 1,000 updates, twelve connections to 100
// topics each write 1,200 subscription events, yet a client resuming from
// the update published before them is answered with its own id and gets
// the update published after them.
func TestSubscriptionEvents_CannotPushUpdatesOutOfHistory(t *testing.T) {
	st := memory.New(memory.Options{MaxUpdates: 1000})
	t.Cleanup(func() { st.Close() })
	s, err := mercure.New(mercure.Config{Store: st, Anonymous: true, Subscriptions: true, Heartbeat: -1})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		s.Close()
		srv.CloseClientConnections()
		srv.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	publish := func(id, topic string) {
		t.Helper()
		if err := s.Hub().Publish(ctx, &hub.Update{ID: id, Topics: []string{topic}, Data: id}); err != nil {
			t.Fatal(err)
		}
	}
	open := func(query url.Values, header http.Header) (*http.Response, *bufio.Reader) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+mercure.HubPath+"?"+query.Encode(), nil)
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res, bufio.NewReader(res.Body)
	}
	publish("urn:before", "https://example.com/doc")
	query := url.Values{"topic": {"https://example.com/ping"}}
	for i := range 99 {
		query.Add("topic", fmt.Sprint("https://example.com/t/", i))
	}
	var attackers []*bufio.Reader
	for range 12 {
		_, br := open(query, nil)
		attackers = append(attackers, br)
	}
	// Each connection's subscription events are published before its
	// stream starts: once all have the ping, all 1,200 were written.
	publish("urn:ping", "https://example.com/ping")
	for _, br := range attackers {
		if got := nextLine(t, br, "id: "); got != "id: urn:ping" {
			t.Fatalf("attacker got %q, want the ping", got)
		}
	}
	publish("urn:after", "https://example.com/doc")
	res, br := open(url.Values{"topic": {"https://example.com/doc"}}, http.Header{"Last-Event-ID": {"urn:before"}})
	if got := res.Header.Get("Last-Event-ID"); got != "urn:before" {
		t.Fatalf("Last-Event-ID header %q, want urn:before: the id was pushed out of history", got)
	}
	if got := nextLine(t, br, "id: "); got != "id: urn:after" {
		t.Fatalf("resumed with %q, want urn:after", got)
	}
}

// Draft-08 §"Subscription Events", §"Subscription API" and §"Discovery":
// subscription event topics and the subscriptions API follow the path of
// the hub's URL, here behind the prefix /hub, whether the proxy in front
// passes the path on or strips the prefix.
func TestDraft08_SubscriptionEvents_FollowThePathOfTheHubURL(t *testing.T) {
	const public = "https://localhost/hub/.well-known/mercure"
	const prefix = "/hub/.well-known/mercure/subscriptions"
	h := newHub08(t, func(c *mercure.Config) {
		c.PublicURL, c.Audience, c.Subscriptions, c.Anonymous = public, public, true, true
	})
	watch := auth(mercuretest.AccessToken(t, subKey08, public, nil, grant(subs, prefix, "urlpattern:"+prefix+"/*")))
	for i, mount := range []struct{ name, path string }{
		{"AtThePublicPath", "/hub/.well-known/mercure"},
		{"BehindAProxyThatStripsThePrefix", mercure.HubPath},
	} {
		t.Run(mount.name, func(t *testing.T) {
			watcher := openStreamAt(t, h, mount.path, "match_urlpattern="+url.QueryEscape(prefix+"/*"), watch)
			match := fmt.Sprintf("urn:prefixed:%d", i)
			st := openStreamAt(t, h, mount.path, "match="+match, nil)
			defer st.close()
			// Skip the events of other subscriptions (the watcher's own, an
			// earlier subtest's ending); next bounds the wait.
			var ev sse.Event
			var doc map[string]any
			for doc["match"] != match || doc["active"] != true {
				ev = watcher.next()
				if err := json.Unmarshal([]byte(ev.Data), &doc); err != nil {
					t.Fatalf("subscription event data %q: %v", ev.Data, err)
				}
			}
			sub, _ := doc["subscriber"].(string)
			esc := strings.NewReplacer(":", "%3A").Replace
			want := prefix + "/exact/" + esc(match) + "/" + esc(sub)
			if ev.Type != "mercure" || doc["id"] != want || doc["match"] != match {
				t.Fatalf("subscription event type %q, document %v; want type mercure and id %s", ev.Type, doc, want)
			}

			get := func(path string, header http.Header) answer {
				req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
				req.Header.Set("Accept", "application/json")
				maps.Copy(req.Header, header)
				return h.do(req)
			}
			rest := strings.TrimPrefix(want, prefix)
			res := get(strings.TrimSuffix(mount.path, "/.well-known/mercure")+"/.well-known/mercure/subscriptions"+rest, watch)
			var got map[string]any
			json.Unmarshal([]byte(res.body), &got)
			if res.status != http.StatusOK || got["id"] != want {
				t.Fatalf("subscriptions API = %d %q, want 200 and the event's document", res.status, res.body)
			}
			coll := get(strings.TrimSuffix(mount.path, "/.well-known/mercure")+"/.well-known/mercure/subscriptions", watch)
			json.Unmarshal([]byte(coll.body), &got)
			if coll.status != http.StatusOK || got["id"] != prefix {
				t.Fatalf("subscriptions collection = %d %q, want 200 and id %s", coll.status, coll.body, prefix)
			}
			// The topic to authorize is the public path: a grant on the
			// unprefixed one does not open the API.
			unprefixed := auth(mercuretest.AccessToken(t, subKey08, public, nil, grant(subs, "urlpattern:"+mercure.SubscriptionsPath+"/*")))
			if res := get(strings.TrimSuffix(mount.path, "/.well-known/mercure")+"/.well-known/mercure/subscriptions"+rest, unprefixed); res.status != http.StatusForbidden {
				t.Fatalf("subscriptions API with a grant on %s/* = %d, want 403", mercure.SubscriptionsPath, res.status)
			}
		})
	}
	t.Run("PublishingToThePrefixedNamespaceIs400", func(t *testing.T) {
		form := url.Values{"topic": {prefix + "/exact/x/y"}}
		if res := h.publish(form, auth(mercuretest.AccessToken(t, pubKey08, public, nil, grant(pub, "*")))); res.status != http.StatusBadRequest {
			t.Fatalf("publish to %s = %d %q, want 400", form.Get("topic"), res.status, res.body)
		}
	})
}
