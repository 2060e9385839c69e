package mercure_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
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
