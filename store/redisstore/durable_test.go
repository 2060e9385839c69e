package redisstore_test

import (
	"context"
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

func BenchmarkStreams(b *testing.B) {
	addr := servertest.SharedRedis(b)
	durabletest.BenchmarkStore(b, func(b *testing.B) durable.Store { return openStreams(b, addr, "") })
}
