package mercure_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/mercure/mercuretest"
	"github.com/ssehub/ssehub/store/memory"
)

func TestPublish_IDAndTypeOverTheLimitsAre413WithoutEcho(t *testing.T) {
	s, base := limitsServer(t, nil)
	watcher, err := s.Hub().Subscribe(context.Background(), hub.SubscribeRequest{Selectors: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	tok := hmacToken(t, mercuretest.PublisherKey, map[string]any{"publish": []string{"*"}})
	cases := []struct {
		name     string
		id, typ  string
		status   int
		mentions string
	}{
		{"an id of 1 MiB is refused", strings.Repeat("i", 1<<20), "", http.StatusRequestEntityTooLarge, "id is 1048576 bytes, at most 1024"},
		{"an id of 33 KiB (over bolt's key size) is refused, not a 500", strings.Repeat("j", 33<<10), "", http.StatusRequestEntityTooLarge, "id is 33792 bytes"},
		{"a type of 2 MiB is refused", "", strings.Repeat("t", 2<<20), http.StatusRequestEntityTooLarge, "type is 2097152 bytes, at most 256"},
		{"an id at the limit is accepted", strings.Repeat("k", mercure.DefaultMaxIDBytes), "", http.StatusOK, ""},
		{"a type at the limit is accepted", "", strings.Repeat("u", mercure.DefaultMaxTypeBytes), http.StatusOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			form := url.Values{"topic": {"https://example.com/a"}, "data": {"x"}}
			if c.id != "" {
				form.Set("id", c.id)
			}
			if c.typ != "" {
				form.Set("type", c.typ)
			}
			req, _ := http.NewRequest(http.MethodPost, base+mercure.HubPath, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, c.status, body)
			}
			if c.status == http.StatusOK {
				// Stored and delivered.
				ctx, cancel := context.WithTimeout(context.Background(), deliveryBound)
				defer cancel()
				msgs, err := watcher.Receive(ctx, nil)
				if err != nil || len(msgs) != 1 || msgs[0].Update.ID != string(body) {
					t.Fatalf("the accepted update did not reach a subscriber: %v %d", err, len(msgs))
				}
				return
			}
			if !strings.Contains(string(body), c.mentions) || len(body) > 200 {
				t.Errorf("body %.300q: want a short message saying %q", body, c.mentions)
			}
		})
	}
}

// orderedStore is a memory store whose Append first waits until the
// publish request's context has been cancelled (what the server does when
// the client half-closes its socket), then honours its own context as the
// networked stores do. It makes the race of finding 14 deterministic.
type orderedStore struct {
	*memory.Store
	requests chan context.Context
}

func (o *orderedStore) Append(ctx context.Context, u *hub.Update) error {
	select {
	case rctx := <-o.requests:
		select {
		case <-rctx.Done():
		case <-time.After(10 * time.Second):
			return errors.New("ordered store: the request's context was never cancelled")
		}
	case <-time.After(10 * time.Second):
		return errors.New("ordered store: no request")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ordered store: append %q: %w", u.ID, err)
	}
	return o.Store.Append(ctx, u)
}

// A publisher that sends its whole request and then half-closes its socket
// (CloseWrite) has its update stored and delivered, and still reads the
// 200 with the update's id.
func TestPublish_AHalfClosedPublisherHasItsUpdateStoredAndAcknowledged(t *testing.T) {
	st := &orderedStore{Store: memory.New(memory.Options{}), requests: make(chan context.Context, 1)}
	s, err := mercure.New(mercure.Config{Store: st, PublisherJWTKey: mercuretest.PublisherKey})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			st.requests <- r.Context()
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { s.Close(); srv.Close(); st.Store.Close() })
	watcher, err := s.Hub().Subscribe(context.Background(), hub.SubscribeRequest{Selectors: []string{"https://example.com/half"}})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	body := url.Values{"topic": {"https://example.com/half"}, "data": {"x"}, "id": {"half-closed-1"}}.Encode()
	tok := hmacToken(t, mercuretest.PublisherKey, map[string]any{"publish": []string{"*"}})
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		mercure.HubPath, srv.Listener.Addr(), tok, len(body), body)
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer after the half-close: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(answer) != "half-closed-1" {
		t.Fatalf("answer %d %q, want 200 and the id", resp.StatusCode, answer)
	}
	if _, err := st.Lookup(context.Background(), "half-closed-1"); err != nil {
		t.Fatalf("the update is not in history: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deliveryBound)
	defer cancel()
	if msgs, err := watcher.Receive(ctx, nil); err != nil || msgs[0].Update.ID != "half-closed-1" {
		t.Fatalf("the update did not reach a subscriber: %v", err)
	}
}
