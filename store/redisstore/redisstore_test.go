package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/hubtest"
	"github.com/ssehub/ssehub/idempotency"
	"github.com/ssehub/ssehub/idempotency/idempotencytest"
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
		c.Del(context.Background(), p+":stream", p+":ids", p+":seq", p+":bytes")
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
			hubtest.TestTrimmed(t, open(t, addr, tt.opts), func() { now = now.Add(tt.advance) }, tt.want...)
		})
	}
}

func TestStore_TwoNodesShareOneOrderAndDuplicateIDs(t *testing.T) {
	addr := servertest.SharedRedis(t)
	prefix := servertest.Unique("two")
	hubtest.TestTwoNodes(t, open(t, addr, redisstore.Options{Prefix: prefix}), open(t, addr, redisstore.Options{Prefix: prefix}))
}

func TestIdempotency(t *testing.T) {
	addr := servertest.SharedRedis(t)
	idempotencytest.TestStore(t, func(t *testing.T) idempotency.Store { return open(t, addr, redisstore.Options{}) })
}

func TestIdempotency_TwoNodesShareTheKeys(t *testing.T) {
	addr := servertest.SharedRedis(t)
	prefix := servertest.Unique("idem")
	idempotencytest.TestTwoNodes(t, open(t, addr, redisstore.Options{Prefix: prefix}), open(t, addr, redisstore.Options{Prefix: prefix}))
}

func TestStore_OutageRefusesAppendsAndFollowResumesWithoutGap(t *testing.T) {
	srv := servertest.StartRedis(t)
	hubtest.TestOutage(t, open(t, srv.Addr, redisstore.Options{MaxUpdates: 100000}), srv.Stop, srv.Start)
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
	if err := c.Del(context.Background(), p+":stream", p+":ids", p+":seq", p+":bytes").Err(); err != nil {
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

func TestStore_HistoryIsBoundedInBytes(t *testing.T) {
	addr := servertest.SharedRedis(t)
	hubtest.TestByteBound(t, func(t *testing.T, maxBytes int64) hub.Store {
		return open(t, addr, redisstore.Options{MaxBytes: maxBytes})
	})
}

func TestStore_NodesSharingTheStoreSeeEachOtherUntilTheirAnnouncementExpires(t *testing.T) {
	addr := servertest.SharedRedis(t)
	prefix := servertest.Unique("presence")
	hubtest.TestPresence(t, open(t, addr, redisstore.Options{Prefix: prefix}), open(t, addr, redisstore.Options{Prefix: prefix}))
}
