package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/hubtest"
	"github.com/ssehub/ssehub/internal/servertest"
	"github.com/ssehub/ssehub/mercure/mercuretest"
	"github.com/ssehub/ssehub/store/redisstore"
)

// open returns a store on addr under a fresh prefix, removed at cleanup.
func open(t *testing.T, addr string, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	opts.Client = &redis.Options{Addr: addr}
	if opts.Prefix == "" {
		opts.Prefix = servertest.Unique("test")
	}
	s, err := redisstore.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		p := "{" + opts.Prefix + "}"
		c.Del(context.Background(), p+":stream", p+":ids", p+":seq")
	})
	return s
}

func TestStore(t *testing.T) {
	addr := servertest.SharedRedis(t)
	hubtest.TestStore(t, func(t *testing.T) hub.Store { return open(t, addr, redisstore.Options{}) })
}

func TestProtocol(t *testing.T) {
	addr := servertest.SharedRedis(t)
	mercuretest.Run(t, func(t *testing.T) hub.Store { return open(t, addr, redisstore.Options{}) })
}

func TestStore_HistoryIsTrimmedByCountAndAge(t *testing.T) {
	addr := servertest.SharedRedis(t)
	now := time.Now()
	clock := func() time.Time { return now }
	tests := []struct {
		name    string
		opts    redisstore.Options
		advance time.Duration // before the last append
		want    []string
	}{
		{"count keeps the newest MaxUpdates", redisstore.Options{MaxUpdates: 3, Now: clock}, 0, []string{"c", "d", "e"}},
		{"age drops updates older than MaxAge", redisstore.Options{MaxAge: time.Minute, Now: clock}, 2 * time.Minute, []string{"e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, addr, tt.opts)
			hubtest.AppendIDs(t, s, "a", "b", "c", "d")
			now = now.Add(tt.advance)
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
	addr := servertest.SharedRedis(t)
	prefix := servertest.Unique("two")
	a := open(t, addr, redisstore.Options{Prefix: prefix})
	b := open(t, addr, redisstore.Options{Prefix: prefix})
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
	srv := servertest.StartRedis(t)
	s := open(t, srv.Addr, redisstore.Options{MaxUpdates: 100000})
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
			t.Fatal("store did not become healthy after Redis came back")
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

// A Redis without persistence that restarts loses the Seq counter with
// everything else: new updates must still sort after what the nodes have
// seen, or their followers would skip them as old.
func TestStore_SeqKeepsIncreasingWhenRedisLosesItsData(t *testing.T) {
	addr := servertest.SharedRedis(t)
	prefix := servertest.Unique("reset")
	s := open(t, addr, redisstore.Options{Prefix: prefix})
	first := &hub.Update{ID: "before", Topics: []string{"t"}}
	if err := s.Append(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	updates := hubtest.Follow(t, s, first.Seq)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	p := "{" + prefix + "}"
	if err := c.Del(context.Background(), p+":stream", p+":ids", p+":seq").Err(); err != nil {
		t.Fatal(err)
	}
	after := &hub.Update{ID: "after", Topics: []string{"t"}}
	if err := s.Append(context.Background(), after); err != nil {
		t.Fatal(err)
	}
	if after.Seq <= first.Seq {
		t.Fatalf("Seq after the loss %d is not above %d", after.Seq, first.Seq)
	}
	select {
	case u := <-updates:
		if u.ID != "after" {
			t.Fatalf("the follower got %q, want the update appended after the loss", u.ID)
		}
	case <-time.After(hubtest.Timeout):
		t.Fatal("the follower never delivered the update appended after the loss")
	}
}
