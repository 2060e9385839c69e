package mercure_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/mercure/mercuretest"
)

// deliveryBound is the latency the tests of this file allow a well-behaved
// subscriber while an attack runs: generous, as the machine is shared, and
// below what the attacks cost before they were bounded (15 s to
// minutes).
const deliveryBound = 10 * time.Second

// limitsServer serves a hub with anonymous subscribers and subscription
// events (the configuration of the attacks) on loopback.
func limitsServer(t *testing.T, mod func(*mercure.Config)) (*mercure.Server, string) {
	t.Helper()
	cfg := mercure.Config{PublisherJWTKey: mercuretest.PublisherKey, Anonymous: true, Subscriptions: true}
	if mod != nil {
		mod(&cfg)
	}
	s, err := mercure.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { s.Close(); srv.Close() })
	return s, srv.URL
}

// subscribeStatus sends a subscription with selectors and returns its
// status and, for a refusal, its body; a stream is left open until the
// test ends.
func subscribeStatus(t *testing.T, base string, selectors ...string) (int, string) {
	t.Helper()
	q := url.Values{"topic": selectors}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+mercure.HubPath+"?"+q.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		t.Cleanup(func() { resp.Body.Close() })
		return resp.StatusCode, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body)
}

func TestSubscribe_SelectorsOverTheLimitsAreRefusedWith400(t *testing.T) {
	_, base := limitsServer(t, nil)
	cases := []struct {
		name, selector, says string
	}{
		{"{+a} repeated 6,000 times, a 60 KB query (the attack that froze the hub)",
			strings.Repeat("{+a}", 6000), "bytes long"},
		{"an exact selector longer than the limit", "https://example.com/" + strings.Repeat("x", hub.DefaultMaxSelectorBytes), "bytes long"},
		{"a template with more variables than the limit", strings.Repeat("{+a}", hub.DefaultMaxSelectorVariables+1), "variables"},
		{"a template whose matcher would be too large", "{+a}" + strings.Repeat("a", hub.DefaultMaxSelectorProgram) + "b", "instructions"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := subscribeStatus(t, base, "https://example.com/ok", c.selector)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", status)
			}
			if !strings.Contains(body, "topic selector 2") || !strings.Contains(body, c.says) {
				t.Errorf("body %q does not name the selector and say %q", body, c.says)
			}
			if len(body) > 300 {
				t.Errorf("the refusal is %d bytes long: it must not echo the selector", len(body))
			}
		})
	}
	// Within the limits, the same kinds are served.
	for _, sel := range []string{
		strings.Repeat("{+a}", hub.DefaultMaxSelectorVariables),
		"https://example.com/" + strings.Repeat("x", 900) + "/{id}",
		hostileTemplate(0),
	} {
		if status, body := subscribeStatus(t, base, sel); status != http.StatusOK {
			t.Errorf("selector of %d bytes within the limits: status %d %s", len(sel), status, body)
		}
	}
}

// hostileTemplate returns the i-th of a family of distinct templates close
// to the most expensive the default limits allow.
func hostileTemplate(i int) string {
	return fmt.Sprintf("{+a}%s%d", strings.Repeat("a", 100), i) + strings.Repeat("{+b}", hub.DefaultMaxSelectorVariables-1) + "c"
}

// While subscribers hold the costliest selectors the limits allow and
// others send fresh ones and hang up, a well-behaved subscriber receives
// every update within deliveryBound, the health check answers, and the
// compiled selectors kept stay within their byte budget.
func TestSubscribe_AWellBehavedSubscriberIsServedDuringASelectorAttack(t *testing.T) {
	const cacheBytes = 2 << 20
	s, base := limitsServer(t, func(c *mercure.Config) { c.SelectorCacheBytes = cacheBytes })
	// Held: 10 connections of 20 distinct costly templates each.
	for c := range 10 {
		var sels []string
		for i := range 20 {
			sels = append(sels, hostileTemplate(c*20+i))
		}
		if status, body := subscribeStatus(t, base, sels...); status != http.StatusOK {
			t.Fatalf("hostile subscription %d: status %d %s", c, status, body)
		}
	}
	// Sent and dropped: 200 more distinct ones, each compiled once.
	for i := range 200 {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+mercure.HubPath+"?"+url.Values{"topic": {hostileTemplate(1000 + i)}}.Encode(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cancel()
	}
	if got := s.Hub().Matcher().CacheBytes(); got > cacheBytes {
		t.Errorf("compiled selectors kept: %d bytes, over the budget of %d", got, cacheBytes)
	}

	good := "https://example.com/good"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+mercure.HubPath+"?topic="+url.QueryEscape(good), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	tok := hmacToken(t, mercuretest.PublisherKey, map[string]any{"publish": []string{"*"}})
	// Long alternate topics that every hostile template has to read to
	// its end.
	long := "https://example.com/" + strings.Repeat("a", 3000)
	for n := range 10 {
		id := fmt.Sprintf("update-%d", n)
		form := url.Values{"topic": {good, long + fmt.Sprint(n)}, "data": {"x"}, "id": {id}}
		preq, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+mercure.HubPath, strings.NewReader(form.Encode()))
		preq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		preq.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		presp, err := http.DefaultClient.Do(preq)
		if err != nil {
			t.Fatal(err)
		}
		presp.Body.Close()
		if presp.StatusCode != http.StatusOK {
			t.Fatalf("publish %d: status %d", n, presp.StatusCode)
		}
		for lines.Scan() && lines.Text() != "id: "+id {
		}
		if lines.Err() != nil || ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v %v", id, lines.Err(), ctx.Err())
		}
		if d := time.Since(start); d > deliveryBound {
			t.Errorf("update %d reached the well-behaved subscriber after %v, more than %v", n, d, deliveryBound)
		}
		hstart := time.Now()
		hresp, err := http.Get(base + mercure.HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		hresp.Body.Close()
		if hresp.StatusCode != http.StatusOK || time.Since(hstart) > deliveryBound {
			t.Errorf("health check: status %d after %v", hresp.StatusCode, time.Since(hstart))
		}
	}
}

func TestSubscribe_SelectorLimitsAreConfigurable(t *testing.T) {
	_, base := limitsServer(t, func(c *mercure.Config) {
		c.MaxSelectorBytes, c.MaxSelectorVariables, c.MaxSelectorProgram = 64, 2, 40
	})
	cases := []struct {
		selector string
		status   int
	}{
		{"https://example.com/" + strings.Repeat("x", 44), http.StatusOK},
		{"https://example.com/" + strings.Repeat("x", 45), http.StatusBadRequest},
		{"https://example.com/{a}/{b}", http.StatusOK},
		{"https://example.com/{a}/{b}/{c}", http.StatusBadRequest},
		{"https://example.com/{+a}" + strings.Repeat("y", 40), http.StatusBadRequest},
	}
	for _, c := range cases {
		if status, body := subscribeStatus(t, base, c.selector); status != c.status {
			t.Errorf("selector %q: status %d, want %d %s", c.selector, status, c.status, body)
		}
	}
}
