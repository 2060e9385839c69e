package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/servertest"
	"github.com/ssehub/ssehub/loadgen"
	"github.com/ssehub/ssehub/sse"
)

// Cross-process tests: several "ssehub serve" processes (the test binary
// built once, with -race, by binary) sharing one store.

const clusterKey = "cluster-test-secret-of-32-bytes!!"

// clusterWait bounds every wait of these tests.
const clusterWait = 60 * time.Second

var clusterHTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func publisherToken(t *testing.T) string {
	t.Helper()
	pub, _, err := loadgen.Tokens(clusterKey, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// sharedStores are the shared stores the cluster tests run on: a Redis
// stream and a JetStream stream of their own (named after prefix), with
// query added to their URLs.
func sharedStores(prefix, query string) []struct {
	name  string
	store func(t *testing.T) string
} {
	return []struct {
		name  string
		store func(t *testing.T) string
	}{
		{"on Redis", func(t *testing.T) string {
			return "redis://" + servertest.SharedRedis(t) + "/0?key=" + servertest.Unique(prefix) + query
		}},
		{"on NATS JetStream", func(t *testing.T) string {
			addr, stream := servertest.SharedNATS(t), servertest.Unique(strings.ToUpper(prefix))
			for _, name := range []string{stream, stream + "_DURABLE"} { // the hub's and its Durable Streams sibling
				servertest.DropStream(t, name)
			}
			return "nats://" + addr + "?stream=" + stream + query
		}},
	}
}

// startNodes starts n ssehub processes with these arguments.
func startNodes(t *testing.T, n int, args ...string) []*server {
	nodes := make([]*server, n)
	for i := range nodes {
		nodes[i] = startServer(t, args...)
	}
	return nodes
}

// pollUntil polls cond until it holds, failing the test with the message
// failure returns after clusterWait.
func pollUntil(t *testing.T, cond func() bool, failure func() string) {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(failure())
		}
		time.Sleep(20 * time.Millisecond) // bounded poll of a condition
	}
}

// post publishes one update with this id to the node and returns the status
// and the Retry-After header.
func post(ctx context.Context, node, token, topic, id string) (int, string, error) {
	form := url.Values{"topic": {topic}, "id": {id}, "data": {"data of " + id}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, node+"/.well-known/mercure", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := clusterHTTP.Do(req)
	if err != nil {
		return 0, "", err
	}
	io.Copy(io.Discard, resp.Body) // so that the connection is reused
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

// subscriber collects the ids of the events of one subscription.
type subscriber struct {
	mu     sync.Mutex
	ids    []string
	ended  chan struct{}
	cancel context.CancelFunc
}

// subscribe opens a subscription on node for the topic selector, replaying
// after lastEventID when it is not empty, and collects its events until the
// stream ends.
func subscribe(t *testing.T, node, selector, lastEventID string) *subscriber {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, node+"/.well-known/mercure?topic="+url.QueryEscape(selector), nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := clusterHTTP.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("subscribe on %s: %v", node, err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("subscribe on %s: status %d", node, resp.StatusCode)
	}
	s := &subscriber{ended: make(chan struct{}), cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		defer close(s.ended)
		defer resp.Body.Close()
		for ev, err := range sse.Read(resp.Body) {
			if err != nil {
				return
			}
			if ev.ID != "" && ev.Data != "" {
				s.mu.Lock()
				s.ids = append(s.ids, ev.ID)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *subscriber) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

// waitFor polls until the subscriber has n events, failing after
// clusterWait.
func (s *subscriber) waitFor(t *testing.T, what string, n int) []string {
	t.Helper()
	var got []string
	pollUntil(t, func() bool { got = s.got(); return len(got) >= n },
		func() string { return fmt.Sprintf("%s received %d of %d updates", what, len(got), n) })
	return got
}

// waitForAll polls until the subscriber has received every id of want (it
// may also receive others), failing after clusterWait.
func (s *subscriber) waitForAll(t *testing.T, what string, want map[string]bool) []string {
	t.Helper()
	var got []string
	missing := len(want)
	pollUntil(t, func() bool {
		got, missing = s.got(), len(want)
		for _, id := range got {
			if want[id] {
				missing--
			}
		}
		return missing <= 0
	}, func() string {
		return fmt.Sprintf("%s is missing %d of the %d acknowledged updates", what, missing, len(want))
	})
	return got
}

// checkOnce fails unless got holds every id of want exactly once.
func checkOnce(t *testing.T, what string, got []string, want map[string]bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Fatalf("%s received %q twice", what, id)
		}
		if !want[id] {
			t.Fatalf("%s received %q, which was not acknowledged or does not match", what, id)
		}
		seen[id] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("%s received %d distinct updates, want %d", what, len(seen), len(want))
	}
}

// publishAll publishes perNode updates through each node concurrently,
// with ids "<round>-<node>-<i>" on topics /a and /b alternately, and
// returns the acknowledged ids (all of them: any other status fails).
func publishAll(t *testing.T, nodes []*server, token, round string, perNode int) (all, onA map[string]bool) {
	t.Helper()
	all, onA = map[string]bool{}, map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	for n, node := range nodes {
		for w := range 4 { // four concurrent publishers per node
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < perNode; i += 4 {
					id := fmt.Sprintf("%s-%d-%d", round, n, i)
					topic := "https://example.com/a"
					if i%2 == 1 {
						topic = "https://example.com/b"
					}
					status, _, err := post(ctx, node.url, token, topic, id)
					if err != nil || status != http.StatusOK {
						t.Errorf("publish %s on node %d: status %d, %v", id, n, status, err)
						return
					}
					mu.Lock()
					all[id] = true
					if i%2 == 0 {
						onA[id] = true
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return all, onA
}

func TestCluster_ThreeNodesShareOneHub(t *testing.T) {
	for _, tt := range sharedStores("cluster", "&size=100000") {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			storeURL := tt.store(t)
			nodes := startNodes(t, 3, "-store", storeURL, "-jwt-key", clusterKey, "-anonymous")
			token := publisherToken(t)
			var everything, onlyA []*subscriber
			for _, n := range nodes {
				everything = append(everything, subscribe(t, n.url, "*", ""))
				onlyA = append(onlyA, subscribe(t, n.url, "https://example.com/a", ""))
			}
			// The subscriber that will lose its node, on node 0.
			victim := subscribe(t, nodes[0].url, "*", "")

			const perNode = 700 // 2100 updates
			all, onA := publishAll(t, nodes, token, "r1", perNode)
			var order []string
			for i, s := range everything {
				got := s.waitFor(t, fmt.Sprintf("the * subscriber on node %d", i), len(all))
				checkOnce(t, fmt.Sprintf("the * subscriber on node %d", i), got, all)
				if order == nil {
					order = got
				} else if !slices.Equal(got, order) {
					t.Fatalf("node %d delivered another order than node 0", i)
				}
			}
			for i, s := range onlyA {
				got := s.waitFor(t, fmt.Sprintf("the /a subscriber on node %d", i), len(onA))
				checkOnce(t, fmt.Sprintf("the /a subscriber on node %d", i), got, onA)
				if want := slices.DeleteFunc(slices.Clone(order), func(id string) bool { return !onA[id] }); !slices.Equal(got, want) {
					t.Fatalf("the /a subscriber on node %d got another order than the * subscribers", i)
				}
			}
			victim.waitFor(t, "the victim", len(all))

			// SIGKILL node 0 while the others keep publishing; the victim
			// reconnects to node 1 with the last id it saw.
			var second map[string]bool
			done := make(chan struct{})
			go func() {
				defer close(done)
				second, _ = publishAll(t, nodes[1:], token, "r2", 400)
			}()
			nodes[0].cmd.Process.Kill()
			select {
			case <-victim.ended:
			case <-time.After(clusterWait):
				t.Fatal("the victim's stream did not end when its node was killed")
			}
			seen := victim.got()
			resumed := subscribe(t, nodes[1].url, "*", seen[len(seen)-1])
			<-done
			if t.Failed() {
				t.FailNow()
			}
			want := map[string]bool{}
			for id := range all {
				want[id] = true
			}
			for id := range second {
				want[id] = true
			}
			rest := resumed.waitFor(t, "the resumed victim", len(want)-len(seen))
			checkOnce(t, "the victim, before and after the kill", append(seen, rest...), want)
		})
	}
}

func TestCluster_BoltHistorySurvivesSIGKILL(t *testing.T) {
	storeURL := "bolt://" + filepath.Join(t.TempDir(), "hub.db")
	node := startServer(t, "-store", storeURL, "-jwt-key", clusterKey, "-anonymous")
	token := publisherToken(t)
	all, _ := publishAll(t, []*server{node}, token, "b", 300)
	node.cmd.Process.Kill()
	node.wait(t, clusterWait)
	node = startServer(t, "-store", storeURL, "-jwt-key", clusterKey, "-anonymous")
	s := subscribe(t, node.url, "*", "earliest")
	checkOnce(t, "the replay after SIGKILL", s.waitFor(t, "the replay after SIGKILL", len(all)), all)
	// b-0-0 was published on /a: ids may repeat, so the same id with other
	// content is stored too.
	if status, _, err := post(context.Background(), node.url, token, "https://example.com/b", "b-0-0"); err != nil || status != http.StatusOK {
		t.Fatalf("republishing an id from before the kill with other content = %d, %v; want 200", status, err)
	}
}

// TestCluster_StoreOutage stops the store's server while two nodes publish:
// publishes are refused with 503 and Retry-After during the outage, no
// acknowledged update is missing, and delivery resumes by itself.
func TestCluster_StoreOutage(t *testing.T) {
	tests := []struct {
		name  string
		start func(t testing.TB) *servertest.Server
		url   func(addr string) string
	}{
		{"of Redis", servertest.StartRedis, func(addr string) string {
			return "redis://" + addr + "/0?key=outage&size=100000"
		}},
		{"of NATS", servertest.StartNATS, func(addr string) string {
			return "nats://" + addr + "?stream=OUTAGE&size=100000"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := tt.start(t)
			storeURL := tt.url(srv.Addr)
			nodes := startNodes(t, 2, "-store", storeURL, "-jwt-key", clusterKey, "-anonymous")
			token := publisherToken(t)
			subs := []*subscriber{subscribe(t, nodes[0].url, "*", ""), subscribe(t, nodes[1].url, "*", "")}

			var mu sync.Mutex
			acked := map[string]bool{}
			var refused, refusedWithoutRetryAfter, okAfterRestart atomic.Int64
			var restarted atomic.Bool
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for n, node := range nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ctx.Err() == nil; i++ {
						id := fmt.Sprintf("o-%d-%d", n, i)
						rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
						status, retryAfter, err := post(rctx, node.url, token, "https://example.com/a", id)
						rcancel()
						switch {
						case err != nil:
						case status == http.StatusOK:
							mu.Lock()
							acked[id] = true
							mu.Unlock()
							if restarted.Load() {
								okAfterRestart.Add(1)
							}
						case status == http.StatusServiceUnavailable:
							refused.Add(1)
							if retryAfter == "" {
								refusedWithoutRetryAfter.Add(1)
							}
						default:
							t.Errorf("publish %s: status %d", id, status)
						}
					}
				}()
			}
			count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
			poll := func(what string, cond func() bool) {
				pollUntil(t, cond, func() string { cancel(); return "waiting for " + what })
			}
			poll("100 acknowledged updates", func() bool { return count() >= 100 })
			srv.Stop()
			poll("publishes refused with 503", func() bool { return refused.Load() >= 10 })
			health, err := clusterHTTP.Get(nodes[0].url + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			health.Body.Close()
			if health.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("/healthz during the outage = %d, want 503", health.StatusCode)
			}
			srv.Start()
			restarted.Store(true)
			poll("publishes accepted again after the restart", func() bool { return okAfterRestart.Load() >= 100 })
			cancel()
			wg.Wait()
			if refusedWithoutRetryAfter.Load() > 0 {
				t.Errorf("%d refusals had no Retry-After", refusedWithoutRetryAfter.Load())
			}
			want := map[string]bool{}
			mu.Lock()
			for id := range acked {
				want[id] = true
			}
			mu.Unlock()
			for i, s := range subs {
				what := fmt.Sprintf("the subscriber on node %d", i)
				// The stream stayed open through the outage; every
				// acknowledged update arrives once (an update whose answer
				// was lost may arrive too: it was stored). Counting would
				// not do: such extras could make up the number early.
				got := s.waitForAll(t, what, want)
				seen := map[string]bool{}
				for _, id := range got {
					if seen[id] {
						t.Fatalf("%s received %q twice", what, id)
					}
					seen[id] = true
				}
				for id := range want {
					if !seen[id] {
						t.Fatalf("%s never received the acknowledged %q", what, id)
					}
				}
			}
			t.Logf("acknowledged %d updates, refused %d with 503 during the outage", len(want), refused.Load())
		})
	}
}
