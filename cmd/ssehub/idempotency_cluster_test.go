package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestCluster_IdempotencyKeyAcrossNodes runs two ssehub processes on one
// shared Redis or NATS: a publish retried with the same Idempotency-Key on
// the other node gets the first answer and stores nothing
// (draft-ietf-httpapi-idempotency-key-header §2.6), and the same key with
// another payload is refused there with 422 (§2.7).
func TestCluster_IdempotencyKeyAcrossNodes(t *testing.T) {
	for _, tt := range sharedStores("idem", "") {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			storeURL := tt.store(t)
			deleteNATSStreams(t, storeURL)
			nodes := startNodes(t, 2, "-store", storeURL, "-jwt-key", clusterKey, "-anonymous")
			token := publisherToken(t)
			send := func(node, data string) (int, string) {
				t.Helper()
				form := url.Values{"topic": {"https://example.com/idem"}, "data": {data}}
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, node+"/.well-known/mercure", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Idempotency-Key", `"order-42"`)
				resp, err := clusterHTTP.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			status, first := send(nodes[0].url, "once")
			if status != http.StatusOK {
				t.Fatalf("publish on node 0 = %d %q", status, first)
			}
			if status, body := send(nodes[1].url, "once"); status != http.StatusOK || body != first {
				t.Fatalf("retry on node 1 = %d %q, want 200 %q", status, body, first)
			}
			if status, body := send(nodes[1].url, "other"); status != http.StatusUnprocessableEntity {
				t.Fatalf("same key, other payload, on node 1 = %d %q, want 422", status, body)
			}
			marker := "marker"
			if status, _, err := post(context.Background(), nodes[1].url, token, "https://example.com/idem", marker); err != nil || status != http.StatusOK {
				t.Fatalf("marker publish = %d, %v", status, err)
			}
			got := subscribe(t, nodes[1].url, "https://example.com/idem", "earliest").waitFor(t, "the replay", 2)
			if len(got) != 2 || got[0] != first || got[1] != marker {
				t.Fatalf("history = %q, want the update once, then the marker", got)
			}
		})
	}
}

// deleteNATSStreams deletes, when the test ends, the JetStream streams a
// hub on storeURL creates (its history, its siblings and its
// Idempotency-Key bucket), so that the shared server's storage is not
// reserved by leftovers. Other stores are left alone.
func deleteNATSStreams(t *testing.T, storeURL string) {
	u, err := url.Parse(storeURL)
	if err != nil || u.Scheme != "nats" {
		return
	}
	stream := u.Query().Get("stream")
	t.Cleanup(func() {
		nc, err := nats.Connect("nats://" + u.Host)
		if err != nil {
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for name := range js.StreamNames(ctx).Name() {
			if strings.HasPrefix(name, stream) || name == "KV_"+stream+"_IDEMPOTENCY" {
				js.DeleteStream(ctx, name)
			}
		}
	})
}
