package mercure_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/mercure/mercuretest"
	"github.com/ssehub/ssehub/store/memory"
)

// flakyStore is a memory store that can be made unavailable, for writes
// (down) or for reads of history (readDown).
type flakyStore struct {
	*memory.Store
	down, readDown atomic.Bool
}

func (f *flakyStore) Read(ctx context.Context, after uint64, limit int) ([]*hub.Update, error) {
	if f.readDown.Load() {
		return nil, fmt.Errorf("flaky store: read after %d: %w", after, hub.ErrUnavailable)
	}
	return f.Store.Read(ctx, after, limit)
}

func (f *flakyStore) Append(ctx context.Context, u *hub.Update) error {
	if f.down.Load() {
		return fmt.Errorf("flaky store: append %q: %w", u.ID, hub.ErrUnavailable)
	}
	return f.Store.Append(ctx, u)
}

func (f *flakyStore) Health(ctx context.Context) error {
	if f.down.Load() {
		return fmt.Errorf("flaky store: no answer: %w", hub.ErrUnavailable)
	}
	return nil
}

func TestUnavailableStore(t *testing.T) {
	store := &flakyStore{Store: memory.New(memory.Options{})}
	s, err := mercure.New(mercure.Config{Store: store, PublisherJWTKey: mercuretest.PublisherKey})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { s.Close(); srv.Close(); store.Close() })
	tok := hmacToken(t, mercuretest.PublisherKey, map[string]any{"publish": []string{"*"}})
	publish := func(id string) *http.Response {
		t.Helper()
		form := url.Values{"topic": {"https://example.com/a"}, "data": {"x"}, "id": {id}}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+mercure.HubPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Idempotency-Key", `"`+id+`"`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	health := func() int {
		t.Helper()
		resp, err := http.Get(srv.URL + mercure.HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name                   string
		down                   bool
		id                     string
		wantPublish, wantHealh int
		wantRetryAfter         bool
	}{
		{"a healthy store stores the update and reports ok", false, "a", http.StatusOK, http.StatusOK, false},
		{"an unavailable store refuses the update with 503 and Retry-After", true, "b", http.StatusServiceUnavailable, http.StatusServiceUnavailable, true},
		{"a retry with the same Idempotency-Key is stored once the store is back", false, "b", http.StatusOK, http.StatusOK, false},
		{"a retry of a stored update with the same Idempotency-Key is answered 200 without storing it twice", false, "b", http.StatusOK, http.StatusOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store.down.Store(tt.down)
			resp := publish(tt.id)
			if resp.StatusCode != tt.wantPublish {
				t.Errorf("publish status = %d, want %d", resp.StatusCode, tt.wantPublish)
			}
			if got := resp.Header.Get("Retry-After") != ""; got != tt.wantRetryAfter {
				t.Errorf("Retry-After present = %v, want %v", got, tt.wantRetryAfter)
			}
			if got := health(); got != tt.wantHealh {
				t.Errorf("health status = %d, want %d", got, tt.wantHealh)
			}
		})
	}
	if ups, _ := store.Read(context.Background(), 0, 10); len(ups) != 2 {
		t.Fatalf("store holds %d updates, want 2 (a and b once)", len(ups))
	}
}

// TestUnreadableHistoryEndsTheStreamWithAHint checks that on both stream
// paths a replay whose page cannot be read ends the stream with the
// "store unavailable" comment and a retry hint, so that the client comes
// back with its Last-Event-ID.
func TestUnreadableHistoryEndsTheStreamWithAHint(t *testing.T) {
	for _, c := range streamPaths {
		t.Run(c.name, func(t *testing.T) {
			store := &flakyStore{Store: memory.New(memory.Options{})}
			// Stored before the hub starts: not in its cache, so the
			// replay reads the store.
			if err := store.Append(context.Background(), &hub.Update{ID: "old", Topics: []string{"t"}, Data: "x"}); err != nil {
				t.Fatal(err)
			}
			s, err := mercure.New(mercure.Config{Store: store, Anonymous: true, Coalesce: c.coalesce})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			s.Register(mux)
			srv := httptest.NewServer(mux)
			t.Cleanup(func() { s.Close(); srv.CloseClientConnections(); srv.Close(); store.Close() })
			store.readDown.Store(true)

			req, _ := http.NewRequest(http.MethodGet, srv.URL+mercure.HubPath+"?topic=t", nil)
			req.Header.Set("Last-Event-ID", "earliest")
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body) // the stream ends by itself
			if err != nil {
				t.Fatalf("reading the stream: %v (got %q)", err, body)
			}
			if !strings.Contains(string(body), ": store unavailable\nretry: ") {
				t.Errorf("stream = %q, want the store-unavailable comment and a retry hint", body)
			}
		})
	}
}
