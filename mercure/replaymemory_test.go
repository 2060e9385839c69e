package mercure_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/store/memory"
)

// stalledSubscriber opens a subscription asking for the whole history and
// never reads it, with a receive buffer as small as the kernel allows.
func stalledSubscriber(t *testing.T, addr string) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s?topic=history HTTP/1.1\r\nHost: %s\r\nLast-Event-ID: earliest\r\n\r\n", mercure.HubPath, addr)
}

// Subscribers that ask for a large history and never read cost the hub one
// page each, not the history (issue 11, finding 4: eight of them held 8.8
// GiB for a history of 1,000 updates of 1 MiB), and a subscriber that
// reads keeps getting live updates meanwhile, each within 5 s (generous:
// they take milliseconds), on both stream paths.
func TestReplay_StalledReadersHoldOnePageEachWhileOthersAreServed(t *testing.T) {
	const (
		stalled   = 8
		updates   = 24
		size      = 1 << 20
		pageBound = 256 << 10
		perReader = pageBound + size + 1024 // a page may end with one large update
		deliver   = 5 * time.Second
	)
	for _, c := range streamPaths {
		t.Run(c.name, func(t *testing.T) {
			st := memory.New(memory.Options{MaxUpdates: 1000, MaxBytes: 1 << 30})
			t.Cleanup(func() { st.Close() })
			s, err := mercure.New(mercure.Config{Store: st, Anonymous: true, Coalesce: c.coalesce, Heartbeat: -1,
				PageBytes: pageBound, WriteTimeout: time.Minute})
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
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			data := strings.Repeat("h", size)
			for i := range updates {
				if err := s.Hub().Publish(ctx, &hub.Update{ID: fmt.Sprint("h", i), Topics: []string{"history"}, Data: data}); err != nil {
					t.Fatal(err)
				}
			}
			for s.Hub().Stats().Dispatched < updates { // bounded by ctx: the fan-out of what was published
				if ctx.Err() != nil {
					t.Fatal("the hub did not fan out the history")
				}
				time.Sleep(5 * time.Millisecond)
			}
			for range stalled {
				stalledSubscriber(t, srv.Listener.Addr().String())
			}
			// Every stalled reader has a page in flight, and holds no more.
			for held := s.Hub().Stats().ReplayBytes; held < stalled*size; held = s.Hub().Stats().ReplayBytes {
				if ctx.Err() != nil {
					t.Fatalf("replays hold %d bytes; the stalled readers never got a page each", held)
				}
				time.Sleep(5 * time.Millisecond) // bounded poll: no signal for "a write blocked"
			}

			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+mercure.HubPath+"?topic=live", nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			br := bufio.NewReader(res.Body)
			for i := range 20 {
				id := fmt.Sprint("live", i)
				sent := time.Now()
				if err := s.Hub().Publish(ctx, &hub.Update{ID: id, Topics: []string{"live"}, Data: "x"}); err != nil {
					t.Fatal(err)
				}
				if got := nextLine(t, br, "id: "); got != "id: "+id {
					t.Fatalf("well-behaved subscriber got %q, want %q", got, "id: "+id)
				}
				if d := time.Since(sent); d > deliver {
					t.Fatalf("update %d took %v to reach the well-behaved subscriber, want under %v", i, d, deliver)
				}
				if held := s.Hub().Stats().ReplayBytes; held > stalled*perReader {
					t.Fatalf("%d stalled readers hold %d bytes of replay, want at most %d (one page each)", stalled, held, stalled*perReader)
				}
			}
		})
	}
}
