package natsstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/hubtest"
	"github.com/ssehub/ssehub/internal/servertest"
	"github.com/ssehub/ssehub/mercure/mercuretest"
	"github.com/ssehub/ssehub/store/natsstore"
)

// open returns a store on addr in a fresh stream, deleted at cleanup.
func open(t *testing.T, addr string, opts natsstore.Options) *natsstore.Store {
	t.Helper()
	opts.URL = "nats://" + addr
	if opts.Stream == "" {
		opts.Stream = servertest.Unique("TEST")
	}
	s, err := natsstore.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		nc, err := nats.Connect(opts.URL)
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := jetstream.New(nc); err == nil {
			js.DeleteStream(context.Background(), opts.Stream)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	addr := servertest.SharedNATS(t)
	hubtest.TestStore(t, func(t *testing.T) hub.Store { return open(t, addr, natsstore.Options{}) })
}

func TestProtocol(t *testing.T) {
	addr := servertest.SharedNATS(t)
	mercuretest.Run(t, func(t *testing.T) hub.Store { return open(t, addr, natsstore.Options{}) })
}

func TestStore_HistoryIsTrimmedByCountAndAge(t *testing.T) {
	addr := servertest.SharedNATS(t)
	// The server applies the limits with its own clock: the age test waits
	// for it (MaxAge 1s, bounded poll).
	tests := []struct {
		name    string
		opts    natsstore.Options
		advance time.Duration // real time to let pass before the last append
		want    []string
	}{
		{"count keeps the newest MaxUpdates", natsstore.Options{MaxUpdates: 3}, 0, []string{"c", "d", "e"}},
		{"age drops updates older than MaxAge", natsstore.Options{MaxAge: time.Second}, 1500 * time.Millisecond, []string{"e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, addr, tt.opts)
			hubtest.AppendIDs(t, s, "a", "b", "c", "d")
			if tt.advance > 0 {
				deadline := time.Now().Add(servertest.Wait)
				for len(hubtest.ReadIDs(t, s)) > 0 { // the server expires them
					if time.Now().After(deadline) {
						t.Fatal("updates older than MaxAge were not expired")
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			hubtest.AppendIDs(t, s, "e")
			if got := fmt.Sprint(hubtest.ReadIDs(t, s)); got != fmt.Sprint(tt.want) {
				t.Fatalf("history = %s, want %v", got, tt.want)
			}
			if _, err := s.Lookup(context.Background(), "a"); !errors.Is(err, hub.ErrUnknownID) {
				t.Fatalf("Lookup(trimmed) = %v, want ErrUnknownID", err)
			}
			if err := s.Append(context.Background(), &hub.Update{ID: "a", Topics: []string{"t"}}); err != nil {
				t.Fatalf("Append(id of a trimmed update) = %v, want it stored again", err)
			}
		})
	}
}

func TestStore_TwoNodesShareOneOrderAndDedupe(t *testing.T) {
	addr := servertest.SharedNATS(t)
	stream := servertest.Unique("TWO")
	a := open(t, addr, natsstore.Options{Stream: stream})
	b := open(t, addr, natsstore.Options{Stream: stream})
	hubtest.AppendIDs(t, a, "x")
	hubtest.AppendIDs(t, b, "y")
	if err := b.Append(context.Background(), &hub.Update{ID: "x", Topics: []string{"t"}}); !errors.Is(err, hub.ErrDuplicateID) {
		t.Fatalf("Append(x) on the other node = %v, want ErrDuplicateID", err)
	}
	if ga, gb := fmt.Sprint(hubtest.ReadIDs(t, a)), fmt.Sprint(hubtest.ReadIDs(t, b)); ga != "[x y]" || gb != ga {
		t.Fatalf("histories = %s and %s, want [x y] on both", ga, gb)
	}
}

func TestStore_OutageRefusesAppendsAndFollowResumesWithoutGap(t *testing.T) {
	srv := servertest.StartNATS(t)
	s := open(t, srv.Addr, natsstore.Options{MaxUpdates: 100000})
	got := hubtest.Follow(t, s, 0)
	ctx := context.Background()
	var acked []string
	publish := func(id string) error {
		err := s.Append(ctx, &hub.Update{ID: id, Topics: []string{"t"}})
		if err == nil {
			acked = append(acked, id)
		}
		return err
	}
	for i := range 50 {
		if err := publish(fmt.Sprint("before-", i)); err != nil {
			t.Fatal(err)
		}
	}
	srv.Stop()
	if err := publish("during"); !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("Append during the outage = %v, want ErrUnavailable", err)
	}
	if err := s.Health(ctx); !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("Health during the outage = %v, want ErrUnavailable", err)
	}
	srv.Start()
	deadline := time.Now().Add(servertest.Wait)
	for s.Health(ctx) != nil { // the pool redials by itself
		if time.Now().After(deadline) {
			t.Fatal("store did not become healthy after NATS came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 50 {
		if err := publish(fmt.Sprint("after-", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range acked {
		select {
		case u := <-got:
			if u.ID != want {
				t.Fatalf("follower's update %d = %q, want %q (no gap, no duplicate)", i, u.ID, want)
			}
		case <-time.After(servertest.Wait):
			t.Fatalf("follower stopped at update %d of %d", i, len(acked))
		}
	}
}
