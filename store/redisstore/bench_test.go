package redisstore_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub/hubtest"
	"github.com/ssehub/ssehub/internal/servertest"
	"github.com/ssehub/ssehub/store/redisstore"
)

func BenchmarkPublishToDelivery(b *testing.B) {
	addr := servertest.SharedRedis(b)
	prefix := servertest.Unique("bench")
	s, err := redisstore.Open(b.Context(), redisstore.Options{Client: &redis.Options{Addr: addr}, Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		p := "{" + prefix + "}"
		c.Del(b.Context(), p+":stream", p+":ids", p+":seq")
	}()
	defer s.Close()
	hubtest.BenchmarkPublishToDelivery(b, s)
}
