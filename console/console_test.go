package console_test

import (
	"context"
	"encoding/json"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssehub/ssehub/console"
	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/servertest"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/resumable"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/store/memory"
)

const (
	operatorKey = "operator-key-for-tests-0123456789"
	jwtKey      = "hub-jwt-key-for-tests"
)

// node is one hub with its console, served on loopback.
type node struct {
	url string
	hub *hub.Hub
	ui  *console.Console
}

// start serves a hub (on st, or memory when nil) and its console, which
// samples every 50 ms.
func start(t *testing.T, st hub.Store, nodeID string) *node {
	t.Helper()
	return startEvery(t, st, nodeID, 50*time.Millisecond, nil)
}

// startEvery is start with the console sampling every interval, and
// showing streams when not nil.
func startEvery(t *testing.T, st hub.Store, nodeID string, interval time.Duration, streams console.StreamSource) *node {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv, err := mercure.New(mercure.Config{Store: st, PublisherJWTKey: jwtKey, SubscriberJWTKey: jwtKey, Anonymous: true, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	mux := http.NewServeMux()
	srv.Register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	ui, err := console.New(console.Config{Key: operatorKey, Hub: srv.Hub(), Metrics: reg, Publisher: srv,
		PublisherJWTKey: jwtKey, NodeID: nodeID, Addr: ts.Listener.Addr().String(), Interval: interval, Streams: streams})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ui.Close() })
	ui.Register(mux)
	return &node{url: ts.URL, hub: srv.Hub(), ui: ui}
}

// do sends a request to the node with the given header and form body
// (POST when form is not nil) and returns the status and body.
func (n *node) do(t *testing.T, method, path string, header http.Header, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, n.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// bearer is the operator's credential as a header.
func bearer() http.Header { return http.Header{"Authorization": {"Bearer " + operatorKey}} }

// login logs in with the form and returns the session cookie.
func (n *node) login(t *testing.T) *http.Cookie {
	t.Helper()
	resp, _ := n.do(t, "POST", "/ui/login", http.Header{"Sec-Fetch-Site": {"same-origin"}}, url.Values{"key": {operatorKey}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d, want 303", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == console.CookieName {
			return c
		}
	}
	t.Fatal("login set no session cookie")
	return nil
}

func withCookie(c *http.Cookie, h http.Header) http.Header {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Cookie", c.Name+"="+c.Value)
	return h
}

// publishPrivate publishes a private update that nobody but the operator
// may see.
func (n *node) publishPrivate(t *testing.T, id, data string) {
	t.Helper()
	err := n.hub.Publish(context.Background(), &hub.Update{ID: id, Topics: []string{"https://example.com/secret"}, Data: data, Private: true})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConsole_IsRefusedWithoutAKeyOrWithAShortOne(t *testing.T) {
	srv, err := mercure.New(mercure.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, key := range []string{"", "short-key"} {
		if _, err := console.New(console.Config{Key: key, Hub: srv.Hub()}); err == nil {
			t.Errorf("console.New with key %q succeeded; want an error", key)
		}
	}
}

func TestConsole_AnAnonymousVisitorGetsTheLoginFormAndNothingElse(t *testing.T) {
	n := start(t, nil, "")
	n.publishPrivate(t, "secret-1", "the secret payload")
	resp, body := n.do(t, "GET", "/ui/", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="key"`) || strings.Contains(body, "events") {
		t.Fatalf("GET /ui/ anonymous: %d %q; want the login form only", resp.StatusCode, body)
	}
	tests := []struct {
		name, method, path string
		header             http.Header
		form               url.Values
	}{
		{"the live samples", "GET", "/ui/events", nil, nil},
		{"the subscriptions", "GET", "/ui/api/subscriptions", nil, nil},
		{"the tail, replaying history", "GET", "/ui/tail?topic=*&from=earliest", nil, nil},
		{"the publish form", "POST", "/ui/publish", http.Header{"Sec-Fetch-Site": {"same-origin"}}, url.Values{"topic": {"t"}, "data": {"x"}}},
		{"the key in the query string", "GET", "/ui/events?key=" + operatorKey + "&authorization=" + operatorKey, nil, nil},
		{"a wrong key", "GET", "/ui/tail?topic=*&from=earliest", http.Header{"Authorization": {"Bearer " + operatorKey + "x"}}, nil},
		{"the key as a cookie value", "GET", "/ui/tail?topic=*&from=earliest", http.Header{"Cookie": {console.CookieName + "=" + operatorKey}}, nil},
		{"a session of another key", "GET", "/ui/events", http.Header{"Cookie": {console.CookieName + "=9999999999.AAAA"}}, nil},
		{"an expired session", "GET", "/ui/events", http.Header{"Cookie": {console.CookieName + "=1.AAAA"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := n.do(t, tt.method, tt.path, tt.header, tt.form)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			if strings.Contains(body, "secret") {
				t.Fatalf("the answer shows the private update: %q", body)
			}
		})
	}
	if got := n.hub.Stats().Published; got != 1 {
		t.Fatalf("%d updates published, want only the test's one", got)
	}
}

func TestConsole_LoginSetsASecureHttpOnlySameSiteStrictCookieScopedToTheConsole(t *testing.T) {
	n := start(t, nil, "")
	resp, body := n.do(t, "POST", "/ui/login", http.Header{"Origin": {n.url}}, url.Values{"key": {"not the key, but long enough"}})
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 || !strings.Contains(body, "not the operator key") {
		t.Fatalf("login with a wrong key: %d, cookies %v; want 401 and no cookie", resp.StatusCode, resp.Cookies())
	}
	resp, _ = n.do(t, "POST", "/ui/login", http.Header{"Origin": {n.url}}, url.Values{"key": {strings.Repeat("k", 8<<10)}})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || len(resp.Cookies()) != 0 {
		t.Fatalf("login with an 8 KiB key: %d; want 413 and no cookie", resp.StatusCode)
	}
	c := n.login(t)
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui" {
		t.Fatalf("session cookie %s; want Secure, HttpOnly, SameSite=Strict, Path=/ui", c)
	}
	if strings.Contains(c.Value, operatorKey) {
		t.Fatal("the session cookie carries the operator key itself")
	}
	resp, body = n.do(t, "GET", "/ui/", withCookie(c, nil), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="overview"`) {
		t.Fatalf("GET /ui/ with the session: %d; want the console", resp.StatusCode)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("the console page has no %s header", h)
		}
	}
	resp, _ = n.do(t, "POST", "/ui/logout", withCookie(c, http.Header{"Sec-Fetch-Site": {"same-origin"}}), url.Values{})
	if cs := resp.Cookies(); resp.StatusCode != http.StatusSeeOther || len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Fatalf("logout: %d, cookies %v; want 303 and the cookie cleared", resp.StatusCode, cs)
	}
}

func TestConsole_CrossSiteRequestsAreRefused(t *testing.T) {
	n := start(t, nil, "")
	c := n.login(t)
	form := url.Values{"topic": {"https://example.com/t"}, "data": {"forged"}}
	tests := []struct {
		name   string
		path   string
		header http.Header
		form   url.Values
	}{
		{"publish from another site (Sec-Fetch-Site)", "/ui/publish", withCookie(c, http.Header{"Sec-Fetch-Site": {"cross-site"}}), form},
		{"publish from a sibling site (Sec-Fetch-Site)", "/ui/publish", withCookie(c, http.Header{"Sec-Fetch-Site": {"same-site"}}), form},
		{"publish with a foreign Origin", "/ui/publish", withCookie(c, http.Header{"Origin": {"https://evil.example"}}), form},
		{"login from another site", "/ui/login", http.Header{"Sec-Fetch-Site": {"cross-site"}}, url.Values{"key": {operatorKey}}},
		{"logout from another site", "/ui/logout", withCookie(c, http.Header{"Origin": {"https://evil.example"}}), url.Values{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := n.do(t, "POST", tt.path, tt.header, tt.form)
			if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
				t.Fatalf("status %d, cookies %v; want 403 and no cookie", resp.StatusCode, resp.Cookies())
			}
		})
	}
	if got := n.hub.Stats().Published; got != 0 {
		t.Fatalf("%d updates published by cross-site requests", got)
	}
}

func TestConsole_ThePublishFormPublishesThroughTheHubAndAnswersWithTheHubsAnswer(t *testing.T) {
	n := start(t, nil, "")
	sub, err := n.hub.Subscribe(context.Background(), hub.SubscribeRequest{Selectors: []string{"https://example.com/books/{id}"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	c := n.login(t)
	resp, body := n.do(t, "POST", "/ui/publish", withCookie(c, http.Header{"Sec-Fetch-Site": {"same-origin"}}),
		url.Values{"topic": {"https://example.com/books/1"}, "data": {"from the console"}, "id": {"console-1"}, "type": {"note"}})
	if resp.StatusCode != http.StatusOK || body != "console-1" {
		t.Fatalf("publish: %d %q; want 200 and the update's id", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
	defer cancel()
	msgs, err := sub.Receive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u := msgs[0].Update; u.ID != "console-1" || u.Data != "from the console" || u.Type != "note" {
		t.Fatalf("the subscriber got %+v", u)
	}
	// The hub's refusals come through as they are.
	resp, body = n.do(t, "POST", "/ui/publish", bearer(), url.Values{"data": {"no topic"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "topic") {
		t.Fatalf("publish without a topic: %d %q; want the hub's 400", resp.StatusCode, body)
	}
}

// events reads the console's event stream: the hello event, then samples.
func events(t *testing.T, n *node) (console.Hello, func() console.Sample) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/ui/events", nil)
	req.Header = bearer()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ui/events: %d", resp.StatusCode)
	}
	next, stop := iter.Pull2(sse.Read(resp.Body))
	t.Cleanup(stop)
	read := func() sse.Event {
		ev, err, ok := next()
		if !ok || err != nil {
			t.Fatalf("the console's stream ended: %v", err)
		}
		return ev
	}
	var hello console.Hello
	if err := json.Unmarshal([]byte(read().Data), &hello); err != nil {
		t.Fatal(err)
	}
	return hello, func() console.Sample {
		ev := read()
		var s console.Sample
		if ev.Type != "sample" || json.Unmarshal([]byte(ev.Data), &s) != nil {
			t.Fatalf("event %+v, want a sample", ev)
		}
		return s
	}
}

func TestConsole_TheEventStreamCountsPublicationsAndDeliveriesAndTimesWrites(t *testing.T) {
	n := start(t, nil, "this-node")
	hello, next := events(t, n)
	if hello.Node != "this-node" || hello.Shared || len(hello.Buckets) == 0 || !hello.Publish {
		t.Fatalf("hello %+v; want this node, not shared, delay buckets, publishing on", hello)
	}
	// A subscriber over HTTP, whose writes the hub times; the hub has
	// registered it once the response headers arrive.
	resp, err := http.Get(n.url + mercure.HubPath + "?topic=*")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for i := range 5 {
		if err := n.hub.Publish(context.Background(), &hub.Update{Topics: []string{"t"}, Data: strings.Repeat("x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(servertest.Wait)
	var published, timed bool
	for !published || !timed {
		s := next()
		published = published || s.Totals.Published == 5 && s.Totals.Delivered == 5 && s.Subscribers == 1 && s.StoreOK &&
			len(s.Nodes) == 1 && s.Nodes[0].ID == "this-node" && s.Nodes[0].Subscribers == 1
		timed = timed || s.DelayP50 != nil && s.DelayP99 != nil && *s.DelayP50 <= *s.DelayP99 && len(s.Delay) == len(hello.Buckets)+1
		if time.Now().After(deadline) {
			t.Fatalf("last sample %+v; want 5 published and delivered, 1 subscriber on this node, and the writes' delay", s)
		}
	}
}

// tail opens the console's tail with query q and returns its events.
func tail(t *testing.T, n *node, q string) func() sse.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/ui/tail?"+q, nil)
	req.Header = bearer()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /ui/tail?%s: %d %s", q, resp.StatusCode, b)
	}
	next, stop := iter.Pull2(sse.Read(resp.Body))
	t.Cleanup(stop)
	return func() sse.Event {
		ev, err, ok := next()
		if !ok || err != nil {
			t.Fatalf("the tail ended: %v", err)
		}
		return ev
	}
}

func TestConsole_TheTailShowsEachUpdateWithItsTopicsAndPrivateMarker(t *testing.T) {
	n := start(t, nil, "")
	n.publishPrivate(t, "before", "published before the tail")
	tests := []struct {
		name  string
		query string
		want  []string // ids, in order
	}{
		{"live only", "topic=*", []string{"after"}},
		{"replay from earliest", "topic=*&from=earliest", []string{"before", "after"}},
		{"replay after an id", "topic=https://example.com/{name}&from=before", []string{"after"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := tail(t, n, tt.query)
			if ev := next(); ev.Type != "ready" {
				t.Fatalf("first event %+v, want ready", ev)
			}
			id := "after"
			if i > 0 {
				id = "" // published by the first case; the replay finds it
			} else {
				n.publishPrivate(t, id, "published after")
			}
			for _, want := range tt.want {
				ev := next()
				var u struct {
					ID      string   `json:"id"`
					Topics  []string `json:"topics"`
					Private bool     `json:"private"`
					Data    string   `json:"data"`
				}
				if err := json.Unmarshal([]byte(ev.Data), &u); err != nil {
					t.Fatal(err)
				}
				if ev.Type != "update" || ev.ID != want || u.ID != want || !u.Private || len(u.Topics) != 1 || u.Topics[0] != "https://example.com/secret" {
					t.Fatalf("event %+v; want update %q with its topic, marked private", ev, want)
				}
			}
		})
	}
}

func TestConsole_ATailWithoutTopicsIsABadRequest(t *testing.T) {
	n := start(t, nil, "")
	if resp, _ := n.do(t, "GET", "/ui/tail", bearer(), nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	if resp, _ := n.do(t, "GET", "/ui/api/subscriptions?limit=0", bearer(), nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("limit=0: status %d, want 400", resp.StatusCode)
	}
}

func TestConsole_SubscriptionsAreListedAndFiltered(t *testing.T) {
	n := start(t, nil, "")
	for _, sel := range []string{"https://example.com/books/{id}", "https://example.com/authors/1"} {
		sub, err := n.hub.Subscribe(context.Background(), hub.SubscribeRequest{Selectors: []string{sel}})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
	}
	_, body := n.do(t, "GET", "/ui/api/subscriptions?q=BOOKS", bearer(), nil)
	var list struct {
		Total, Matching int
		Topics          []struct{ Selector string }
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if list.Total != 2 || list.Matching != 1 || len(list.Topics) != 1 || list.Topics[0].Selector != "https://example.com/books/{id}" {
		t.Fatalf("filtered list %s; want the books subscription only", body)
	}
}

// startStreams returns resumable streams on a memory durable store of
// their own, and starts one answer that sends "one", "two" and "three",
// then ends.
func startStreams(t *testing.T) (*resumable.Streams, string) {
	t.Helper()
	st := memory.NewStreams(memory.StreamsOptions{})
	t.Cleanup(func() { st.Close() })
	streams, err := resumable.New(st, resumable.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { streams.Close() })
	id, err := streams.Start(t.Context(), func(ctx context.Context, w *resumable.Writer) error {
		for _, piece := range []string{"one", "two", "three"} {
			if err := w.Send(ctx, sse.Event{Data: piece}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return streams, id
}

func TestConsole_ResumableAnswersAreListedAndTailedFromTheDurableStore(t *testing.T) {
	streams, id := startStreams(t)
	n := startEvery(t, nil, "", 50*time.Millisecond, streams)
	type row struct {
		ID      string
		Name    string
		Events  int
		Closed  bool
		End     string
		Readers int
	}
	deadline := time.Now().Add(servertest.Wait)
	for {
		_, body := n.do(t, "GET", "/ui/api/streams", bearer(), nil)
		var list struct{ Streams []row }
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if len(list.Streams) == 1 && list.Streams[0].Closed {
			want := row{ID: id, Name: resumable.DefaultPrefix + id, Events: 4, Closed: true, End: "done"}
			if list.Streams[0] != want {
				t.Fatalf("stream %+v, want %+v", list.Streams[0], want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("streams %s; want the one stream, closed", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	next := tail(t, n, "hub=streams&from=earliest&topic="+url.QueryEscape(id))
	if ev := next(); ev.Type != "ready" {
		t.Fatalf("first event %+v, want ready", ev)
	}
	for i, want := range []string{`"one"`, `"two"`, `"three"`, `"type":"done"`} {
		ev := next()
		if wantID := id + "/" + durable.FormatOffset(uint64(i+1)); ev.ID != wantID || !strings.Contains(ev.Data, want) {
			t.Fatalf("tailed %+v, want the event %s with %s", ev, wantID, want)
		}
	}
	next = tail(t, n, "hub=streams&topic="+url.QueryEscape(id)+"&from="+url.QueryEscape(id+"/"+durable.FormatOffset(3)))
	next() // ready
	if ev := next(); ev.ID != id+"/"+durable.FormatOffset(4) {
		t.Fatalf("tailed from the third event: %+v, want the terminal one", ev)
	}
	if resp, _ := n.do(t, "GET", "/ui/tail?hub=other&topic=*", bearer(), nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("hub=other: %d, want 400", resp.StatusCode)
	}
}
