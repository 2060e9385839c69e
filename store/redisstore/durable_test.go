package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/durable/durabletest"
	"github.com/ssehub/ssehub/internal/servertest"
	"github.com/ssehub/ssehub/store/redisstore"
)

// openStreams returns Streams on addr under prefix (a fresh one when
// empty), whose keys are removed at cleanup.
func openStreams(t testing.TB, addr, prefix string) *redisstore.Streams {
	t.Helper()
	if prefix == "" {
		prefix = servertest.Unique("ds")
	}
	s, err := redisstore.OpenStreams(context.Background(), redisstore.StreamsOptions{
		Client: &redis.Options{Addr: addr}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		ctx := context.Background()
		keys, _ := c.Keys(ctx, "{"+prefix+"}:ds:*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return s
}

func TestStreams(t *testing.T) {
	addr := servertest.SharedRedis(t)
	durabletest.TestStore(t, func(t *testing.T) durable.Store { return openStreams(t, addr, "") })
}

func TestStreams_TwoNodes(t *testing.T) {
	addr := servertest.SharedRedis(t)
	durabletest.TestNodes(t, func(t *testing.T) (durable.Store, durable.Store) {
		prefix := servertest.Unique("ds")
		return openStreams(t, addr, prefix), openStreams(t, addr, prefix)
	})
}

func TestStreams_TheStreamLimitHoldsAcrossNodesUnderConcurrentCreates(t *testing.T) {
	addr := servertest.SharedRedis(t)
	prefix := servertest.Unique("ds")
	nodes := []*redisstore.Streams{openStreams(t, addr, prefix), openStreams(t, addr, prefix)}
	const limit, creators = 5, 16
	ctx := context.Background()
	create := func(node *redisstore.Streams, name string) error {
		_, err := node.Create(ctx, name, durable.CreateRequest{StreamConfig: durable.StreamConfig{ContentType: "text/plain"}, MaxStreams: limit})
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, creators)
	for i := range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = create(nodes[i%2], fmt.Sprintf("s%d", i))
		}()
	}
	wg.Wait()
	created := 0
	for i, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, durable.ErrTooMany):
			t.Fatalf("create s%d: %v, want success or ErrTooMany", i, err)
		}
	}
	if created != limit {
		t.Fatalf("%d of %d concurrent creates on two nodes succeeded, want exactly the limit, %d", created, creators, limit)
	}
	var kept string
	for i, err := range errs {
		if err == nil {
			kept = fmt.Sprintf("s%d", i)
		}
	}
	if err := create(nodes[1], kept); err != nil {
		t.Fatalf("an idempotent re-create at the limit on the other node: %v", err)
	}
	if err := nodes[0].Delete(ctx, kept); err != nil {
		t.Fatal(err)
	}
	if err := create(nodes[1], "after-delete"); err != nil {
		t.Fatalf("a create on the other node after a delete made room: %v", err)
	}
	if err := create(nodes[0], "one-too-many"); !errors.Is(err, durable.ErrTooMany) {
		t.Fatalf("a create past the limit: %v, want ErrTooMany", err)
	}
}

func BenchmarkStreams(b *testing.B) {
	addr := servertest.SharedRedis(b)
	durabletest.BenchmarkStore(b, func(b *testing.B) durable.Store { return openStreams(b, addr, "") })
}
