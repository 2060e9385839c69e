package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/store/boltstore"
	"github.com/ssehub/ssehub/store/memory"
	"github.com/ssehub/ssehub/store/natsstore"
	"github.com/ssehub/ssehub/store/redisstore"
)

// OpenStreams opens the durable.Store that rawURL names, where Durable
// Streams keep their data: memory://, bolt://file.db (parameter timeout,
// the file lock's wait), redis://host:port/db?key=prefix (and go-redis's
// own parameters) or nats://host:port?stream=NAME&replicas=N; every scheme
// takes sweep, the expiry sweep's interval. Nodes that open the same Redis
// prefix or JetStream stream share their streams. The caller closes it.
func OpenStreams(ctx context.Context, rawURL string) (durable.Store, error) {
	scheme, path, u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	p := params{url: rawURL, q: u.Query()}
	sweep := p.duration("sweep", 0)
	switch strings.ToLower(scheme) {
	case "memory":
		if err := p.done(); err != nil {
			return nil, err
		}
		return memory.NewStreams(memory.StreamsOptions{Sweep: sweep}), nil
	case "bolt":
		timeout := p.duration("timeout", 0)
		if err := p.done(); err != nil {
			return nil, err
		}
		if path == "" {
			return nil, fmt.Errorf("store URL %q has no file: want bolt:///absolute/path.db or bolt://relative.db", rawURL)
		}
		return boltstore.OpenStreams(path, boltstore.StreamsOptions{Timeout: timeout, Sweep: sweep})
	case "redis", "rediss":
		prefix := p.string("key", "")
		if p.err != nil {
			return nil, p.err
		}
		u.RawQuery = p.q.Encode() // what is left is go-redis's
		co, err := redis.ParseURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("store URL %q: %w (our parameters: key, sweep)", rawURL, err)
		}
		return redisstore.OpenStreams(ctx, redisstore.StreamsOptions{Client: co, Prefix: prefix, Sweep: sweep})
	case "nats":
		stream := p.string("stream", "")
		replicas := p.int("replicas", 0)
		p.string("hub", "") // the hub's history's namespace, meaningless here: a sibling URL keeps it
		if err := p.done(); err != nil {
			return nil, err
		}
		u.RawQuery = ""
		return natsstore.OpenStreams(ctx, natsstore.StreamsOptions{URL: u.String(), Stream: stream, Replicas: replicas, Sweep: sweep})
	default:
		return nil, fmt.Errorf("store URL %q: unknown scheme %q: want one of %s", rawURL, scheme, Schemes)
	}
}
