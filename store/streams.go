package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/store/boltstore"
	"github.com/ssehub/ssehub/store/memory"
)

// OpenStreams opens the durable.Store that rawURL names, where Durable
// Streams keep their data: memory:// or bolt://file.db (parameters:
// timeout, the file lock's wait, and sweep, the expiry sweep's interval).
// The caller closes it.
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
	case "redis", "rediss", "nats":
		return nil, fmt.Errorf("store URL %q: Durable Streams are not kept in %s yet: use bolt:// or memory://", rawURL, scheme)
	default:
		return nil, fmt.Errorf("store URL %q: unknown scheme %q: want memory:// or bolt://", rawURL, scheme)
	}
}
