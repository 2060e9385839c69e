package mercure_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/store/memory"
)

// gatedStore is a memory store whose Append waits for a signal, so that a
// publish can be held in flight.
type gatedStore struct {
	*memory.Store
	entered chan struct{}
	release chan struct{}
}

func (g *gatedStore) Append(ctx context.Context, u *hub.Update) error {
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Store.Append(ctx, u)
}

// TestIdempotencyKey_ConcurrentUseIs409 is
// draft-ietf-httpapi-idempotency-key-header §2.7: a request whose key is
// held by a request still being processed is answered 409 Conflict; once
// the first is answered, a retry gets its answer.
func TestIdempotencyKey_ConcurrentUseIs409(t *testing.T) {
	const key = "!ChangeThisMercureHubJWTSecretKey!"
	store := &gatedStore{Store: memory.New(memory.Options{}), entered: make(chan struct{}), release: make(chan struct{})}
	defer store.Close()
	s, err := mercure.New(mercure.Config{Store: store, PublisherJWTKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tok := hmacToken(t, key, map[string]any{"publish": []string{"*"}})
	publish := func() (int, string) {
		form := url.Values{"topic": {"urn:t"}, "data": {"x"}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+mercure.HubPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Idempotency-Key", `"k"`)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	type answer struct {
		status int
		body   string
	}
	first := make(chan answer, 1)
	go func() { st, b := publish(); first <- answer{st, b} }()
	<-store.entered // the first request is in Append, holding the key
	if st, body := publish(); st != http.StatusConflict {
		t.Fatalf("concurrent request with the same key = %d %q, want 409", st, body)
	}
	close(store.release)
	a := <-first
	if a.status != http.StatusOK {
		t.Fatalf("first request = %d %q", a.status, a.body)
	}
	if st, body := publish(); st != http.StatusOK || body != a.body {
		t.Fatalf("retry after the first answered = %d %q, want 200 %q", st, body, a.body)
	}
}

// TestNew_IdempotencyKeepIsBounded: a keep longer than idempotency.MaxKeep
// (the NATS bucket's own limit) is refused when the server is made.
func TestNew_IdempotencyKeepIsBounded(t *testing.T) {
	if _, err := mercure.New(mercure.Config{IdempotencyKeep: 8 * 24 * time.Hour}); err == nil {
		t.Fatal("New accepted an IdempotencyKeep of 8 days")
	}
}
