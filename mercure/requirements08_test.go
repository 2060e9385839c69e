package mercure_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/mercure/mercuretest"
)

// Tests of single requirements of draft-dunglas-mercure-08 that the
// conformance suite (mercuretest) covers only in passing; each test names
// its section.

// anonymousHub08 is a hub serving anonymous subscribers.
func anonymousHub08(t *testing.T, mod func(*mercure.Config)) *hub08 {
	return newHub08(t, func(c *mercure.Config) {
		c.Anonymous, c.Heartbeat = true, -1
		if mod != nil {
			mod(c)
		}
	})
}

// publishTo publishes an update to topic from Go and returns its id.
func publishTo(t *testing.T, s *mercure.Server, topic string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mercuretest.Timeout)
	defer cancel()
	u := &hub.Update{Topics: []string{topic}, Data: topic}
	if err := s.Hub().Publish(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// §"Subscription": the query component MUST be parsed with the
// application/x-www-form-urlencoded parser of the URL Standard.
func TestDraft08_Subscription_TheQueryIsParsedAsFormURLEncoded(t *testing.T) {
	h := anonymousHub08(t, nil)
	for _, tc := range []struct{ name, query, topic string }{
		{"APlusIsASpace", "match=urn:a+b", "urn:a b"},
		{"PercentEncodedOctetsAreDecoded", "match=urn%3Aa%26b%3Dc%2B", "urn:a&b=c+"},
		{"ANameIsPercentDecodedToo", "m%61tch=urn:named", "urn:named"},
		{"PairsAreSplitOnAmpersandOnly", "match=urn:a;b", "urn:a;b"},
		{"AStrayPercentIsKeptAsIs", "match=urn:100%&match=urn:x%zz", "urn:x%zz"},
		{"EmptyPairsAreSkipped", "&&match=urn:empty-pairs&", "urn:empty-pairs"},
		{"ThePercentDecodedValueIsMatchedAsUTF8", "match=urn:%E2%82%AC", "urn:€"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStreamAt(t, h, mercure.HubPath, tc.query, nil)
			defer st.close()
			id := publishTo(t, h.s, tc.topic)
			if got := st.nextID(); got != id {
				t.Fatalf("subscribed with %q, got event %q, want the update to %q (%s)", tc.query, got, tc.topic, id)
			}
		})
	}
	t.Run("AQueryBodyIsParsedAlike", func(t *testing.T) {
		req, _ := http.NewRequest("QUERY", h.srv.URL+mercure.HubPath, strings.NewReader("match=urn:body;1+2"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		res, err := h.srv.Client().Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("QUERY with a raw ';' in its body = %d, want 200", res.StatusCode)
		}
	})
}

// §"Subscription": event streams interact poorly with buffering
// intermediaries; the hub's share of "deployments SHOULD configure
// intermediaries not to buffer event streams" is X-Accel-Buffering: no,
// which nginx (and proxies that copy it) obey per response.
func TestDraft08_Subscription_EventStreamsAskIntermediariesNotToBuffer(t *testing.T) {
	h := anonymousHub08(t, nil)
	for _, tc := range []struct{ name, method, query, body string }{
		{"Draft08GET", http.MethodGet, "match=urn:buf", ""},
		{"Draft08QUERY", "QUERY", "", "match=urn:buf"},
		{"Draft07GET", http.MethodGet, "topic=urn:buf", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, h.srv.URL+mercure.HubPath+"?"+tc.query, strings.NewReader(tc.body))
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			a := h.do(req)
			if a.status != http.StatusOK || a.header.Get("Content-Type") != "text/event-stream" || a.header.Get("X-Accel-Buffering") != "no" {
				t.Fatalf("%s = %d, Content-Type %q, X-Accel-Buffering %q; want 200, an event stream and no", tc.method, a.status, a.header.Get("Content-Type"), a.header.Get("X-Accel-Buffering"))
			}
		})
	}
}

// §"Subscription": hubs SHOULD serve subscriptions over HTTP/2 or higher.
// Over TLS it is negotiated with ALPN, in clear text (behind a proxy) it is
// h2c with prior knowledge; both subscribe and publish.
func TestDraft08_Subscription_TheHubSpeaksHTTP2(t *testing.T) {
	s, err := mercure.New(mercure.Config{Anonymous: true, Heartbeat: -1, Audience: localAudience,
		Issuers: []mercure.Issuer{{ID: issuer, PublisherKeys: []string{pubKey08}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mux := http.NewServeMux()
	s.Register(mux)
	for _, tc := range []struct {
		name  string
		start func(*httptest.Server) *http.Client
	}{
		{"OverTLS", func(srv *httptest.Server) *http.Client {
			srv.EnableHTTP2 = true
			srv.StartTLS()
			return srv.Client()
		}},
		{"InClearText", func(srv *httptest.Server) *http.Client {
			srv.Config.Protocols = new(http.Protocols)
			srv.Config.Protocols.SetHTTP1(true)
			srv.Config.Protocols.SetUnencryptedHTTP2(true)
			srv.Start()
			tr := &http.Transport{Protocols: new(http.Protocols)}
			tr.Protocols.SetUnencryptedHTTP2(true)
			t.Cleanup(tr.CloseIdleConnections)
			return &http.Client{Transport: tr}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(mux)
			client := tc.start(srv)
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithTimeout(context.Background(), mercuretest.Timeout)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+mercure.HubPath+"?match=urn:h2", nil)
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.ProtoMajor != 2 || res.StatusCode != http.StatusOK {
				t.Fatalf("subscribe = %d over %s, want 200 over HTTP/2", res.StatusCode, res.Proto)
			}
			pub, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+mercure.HubPath, strings.NewReader("topic=urn:h2&data=over-h2"))
			pub.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			pub.Header.Set("Authorization", "Bearer "+pubTok(t, "urn:h2"))
			pr, err := client.Do(pub)
			if err != nil {
				t.Fatal(err)
			}
			pr.Body.Close()
			if pr.ProtoMajor != 2 || pr.StatusCode != http.StatusOK {
				t.Fatalf("publish = %d over %s, want 200 over HTTP/2", pr.StatusCode, pr.Proto)
			}
			if line := nextLine(t, bufio.NewReader(res.Body), "data: "); line != "data: over-h2" {
				t.Fatalf("stream read %q, want the update published over HTTP/2", line)
			}
		})
	}
}

// §"Discovery": the hub's URL SHOULD be /.well-known/mercure, and MAY be
// any URL (behind a path prefix): the hub serves its endpoint at the
// well-known path, and at the path of its public URL when that differs.
func TestDraft08_Discovery_TheHubURL(t *testing.T) {
	for _, tc := range []struct {
		name, publicURL string
		paths           []string
		notFound        string
	}{
		{"TheWellKnownPathByDefault", "", []string{mercure.HubPath}, "/hub" + mercure.HubPath},
		{"AnyPathOfThePublicURL", "https://localhost/hub/.well-known/mercure", []string{mercure.HubPath, "/hub/.well-known/mercure"}, "/other" + mercure.HubPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := anonymousHub08(t, func(c *mercure.Config) {
				if tc.publicURL != "" {
					c.PublicURL, c.Audience = tc.publicURL, tc.publicURL
				}
			})
			aud := localAudience
			if tc.publicURL != "" {
				aud = tc.publicURL
			}
			tok := mercuretest.AccessToken(t, pubKey08, aud, nil, grant(pub, "urn:discovery"))
			for _, path := range tc.paths {
				st := openStreamAt(t, h, path, "match=urn:discovery", nil)
				req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader("topic=urn:discovery"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Bearer "+tok)
				a := h.do(req)
				if a.status != http.StatusOK {
					t.Fatalf("publish at %s = %d %q, want 200", path, a.status, a.body)
				}
				if got := st.nextID(); got != strings.TrimSpace(a.body) {
					t.Fatalf("subscribed at %s, got %q, want %q", path, got, a.body)
				}
				st.close()
			}
			if a := h.subscribe("match=urn:discovery", nil); a.status != http.StatusOK {
				t.Fatalf("subscribe at %s = %d", mercure.HubPath, a.status)
			}
			req, _ := http.NewRequest(http.MethodGet, h.srv.URL+tc.notFound+"?match=urn:discovery", nil)
			if a := h.do(req); a.status != http.StatusNotFound {
				t.Fatalf("subscribe at %s = %d, want 404", tc.notFound, a.status)
			}
		})
	}
}

// §"Publication": the hub MUST serialize data as one SSE data field per
// line, splitting on CR, LF and CRLF; read on the wire, since an SSE
// parser would hide a lone CR written inside one field.
func TestDraft08_Publication_DataIsOneDataFieldPerLine(t *testing.T) {
	h := anonymousHub08(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), mercuretest.Timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+mercure.HubPath+"?match=urn:lines", nil)
	res, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	a := h.publish(url.Values{"topic": {"urn:lines"}, "data": {"cr\rlf\ncrlf\r\nlast"}}, auth(pubTok(t, "urn:lines")))
	if a.status != http.StatusOK {
		t.Fatalf("publish = %d %q", a.status, a.body)
	}
	br := bufio.NewReader(res.Body)
	for _, want := range []string{"data: cr", "data: lf", "data: crlf", "data: last"} {
		l, err := br.ReadString('\n')
		for err == nil && !strings.HasPrefix(l, "data:") {
			l, err = br.ReadString('\n')
		}
		if err != nil || l != want+"\n" {
			t.Fatalf("read %q, %v; want the line %q", l, err, want)
		}
	}
}

// §"Subscription Events": {subscriber} is made by the hub, unique per
// connection; no query parameter or header supplies or overrides it.
func TestDraft08_SubscriptionEvents_TheSubscriberIsMadeByTheHub(t *testing.T) {
	const prefix = mercure.SubscriptionsPath
	h := anonymousHub08(t, func(c *mercure.Config) { c.Subscriptions = true })
	watch := auth(mercuretest.AccessToken(t, subKey08, localAudience, nil, grant(subs, "urlpattern:"+prefix+"/*")))
	watcher := openStreamAt(t, h, mercure.HubPath, "match_urlpattern="+url.QueryEscape(prefix+"/*"), watch)
	forged := http.Header{"Mercure-Subscriber": {"urn:forged"}, "Subscriber": {"urn:forged"}}
	seen := map[string]bool{}
	for range 2 {
		st := openStreamAt(t, h, mercure.HubPath, "match=urn:forge&subscriber=urn:forged&mercure_subscriber=urn:forged", forged)
		defer st.close()
		var doc map[string]any
		for doc["match"] != "urn:forge" || doc["active"] != true {
			if err := json.Unmarshal([]byte(watcher.next().Data), &doc); err != nil {
				t.Fatal(err)
			}
		}
		sub, _ := doc["subscriber"].(string)
		if !strings.HasPrefix(sub, "urn:uuid:") || seen[sub] {
			t.Fatalf("subscriber %q: want a fresh urn:uuid per connection, whatever the request says (seen %v)", sub, seen)
		}
		seen[sub] = true
	}
}
