// Package store opens the hub.Store named by a URL, so that one flag or
// environment variable chooses where a hub keeps its history:
//
//	memory://?size=1000&age=1h                      in memory, lost on exit
//	bolt:///var/lib/ssehub/hub.db?size=1000&age=24h  one durable file (one node)
//	bolt://ssehub.db                                 a file in the working directory
//	redis://:password@host:6379/0?key=ssehub&size=1000&age=1h   Redis Streams
//	nats://host:4222?stream=SSEHUB&hub=default&size=1000&age=1h  NATS JetStream
//
// Parameters every scheme takes: bytes, the most bytes of updates kept in
// history (a number with an optional unit, 64MiB, 1GiB, 500MB; default
// Options.HistoryBytes, else the store's own: DefaultBytesOnDisk for bolt,
// DefaultBytesRedis, DefaultBytesMemory, none for NATS, whose server
// reserves a stream's byte bound up front; -1 for no byte bound), size, the most updates kept (default Options.HistorySize),
// and age, a Go duration after which updates leave history (default
// Options.HistoryAge; 0 or absent: no age limit).
// bolt also takes timeout (how long to wait for the file lock); redis takes
// key (the key prefix, shared by the nodes of one hub) plus go-redis's own
// URL parameters (dial_timeout, read_timeout, pool_size, …), and rediss://
// for TLS; nats takes stream (the JetStream stream) and hub (the hub's
// subjects within it), and replicas.
package store

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/boltstore"
	"github.com/ssehub/ssehub/store/memory"
	"github.com/ssehub/ssehub/store/natsstore"
	"github.com/ssehub/ssehub/store/redisstore"
)

// Schemes lists the URL schemes Open knows, for messages and help texts.
const Schemes = "memory://, bolt://, redis:// (or rediss://), nats://"

// The stores' default byte bounds of history, for help texts: on disk
// (bolt://), in Redis's memory, in this process's memory. NATS has none by
// default (see natsstore.Options.MaxBytes).
const (
	DefaultBytesOnDisk = boltstore.DefaultMaxBytes
	DefaultBytesRedis  = redisstore.DefaultMaxBytes
	DefaultBytesMemory = memory.DefaultMaxBytes
)

// Options are the defaults of the URL's parameters.
type Options struct {
	// HistoryBytes is the default of the bytes parameter: 0 means each
	// store's default; negative, no byte bound.
	HistoryBytes int64
	// HistorySize is the default of the size parameter: 0 means each
	// store's default; negative keeps no history (memory only).
	HistorySize int
	// HistoryAge is the default of the age parameter; 0: no age limit.
	HistoryAge time.Duration
}

// parseURL splits a store URL: its scheme as written, what follows
// "scheme://" up to any query (a bolt file's path), and the parsed URL.
func parseURL(rawURL string) (scheme, path string, u *url.URL, err error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "", "", nil, fmt.Errorf("store URL %q has no scheme: want one of %s", rawURL, Schemes)
	}
	u, err = url.Parse(rawURL)
	if err != nil {
		return "", "", nil, fmt.Errorf("store URL %q does not parse: %w", rawURL, err)
	}
	path, _, _ = strings.Cut(rest, "?")
	return scheme, path, u, nil
}

// Open opens the store that rawURL names. The caller closes it. Errors say
// which part of the URL is wrong; a store that cannot be reached gives an
// error wrapping hub.ErrUnavailable.
func Open(ctx context.Context, rawURL string, opts Options) (hub.Store, error) {
	scheme, path, u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	p := params{url: rawURL, q: q}
	size := p.int("size", opts.HistorySize)
	bytes := p.bytes("bytes", opts.HistoryBytes)
	age := p.duration("age", opts.HistoryAge)
	switch strings.ToLower(scheme) {
	case "memory":
		if err := p.done(); err != nil {
			return nil, err
		}
		return memory.New(memory.Options{MaxUpdates: size, MaxBytes: bytes, MaxAge: age}), nil
	case "bolt":
		timeout := p.duration("timeout", 0)
		if err := p.done(); err != nil {
			return nil, err
		}
		if path == "" {
			return nil, fmt.Errorf("store URL %q has no file: want bolt:///absolute/path.db or bolt://relative.db", rawURL)
		}
		return boltstore.Open(path, boltstore.Options{MaxUpdates: size, MaxBytes: bytes, MaxAge: age, Timeout: timeout})
	case "redis", "rediss":
		prefix := p.string("key", "")
		if p.err != nil {
			return nil, p.err
		}
		u.RawQuery = q.Encode() // what is left is go-redis's
		co, err := redis.ParseURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("store URL %q: %w (our parameters: key, size, bytes, age)", rawURL, err)
		}
		return redisstore.Open(ctx, redisstore.Options{Client: co, Prefix: prefix, MaxUpdates: size, MaxBytes: bytes, MaxAge: age})
	case "nats":
		stream := p.string("stream", "")
		hubName := p.string("hub", "")
		replicas := p.int("replicas", 0)
		if err := p.done(); err != nil {
			return nil, err
		}
		u.RawQuery = ""
		return natsstore.Open(ctx, natsstore.Options{URL: u.String(), Stream: stream, Hub: hubName,
			MaxUpdates: size, MaxBytes: bytes, MaxAge: age, Replicas: replicas})
	default:
		return nil, fmt.Errorf("store URL %q: unknown scheme %q: want one of %s", rawURL, scheme, Schemes)
	}
}

// params takes the store's parameters out of a URL's query, remembering
// the first bad one.
type params struct {
	url string
	q   url.Values
	err error
}

func (p *params) string(name, def string) string {
	v := p.q.Get(name)
	p.q.Del(name)
	if v == "" {
		return def
	}
	return v
}

func (p *params) int(name string, def int) int {
	v := p.string(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("store URL %q: parameter %s=%q is not an integer", p.url, name, v)
	}
	return n
}

func (p *params) bytes(name string, def int64) int64 {
	v := p.string(name, "")
	if v == "" {
		return def
	}
	n, err := ParseBytes(v)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("store URL %q: parameter %s: %w", p.url, name, err)
	}
	return n
}

func (p *params) duration(name string, def time.Duration) time.Duration {
	v := p.string(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if (err != nil || d < 0) && p.err == nil {
		p.err = fmt.Errorf("store URL %q: parameter %s=%q is not a duration such as 90s or 24h", p.url, name, v)
	}
	return d
}

// done reports the first bad parameter, or the first unknown one.
func (p *params) done() error {
	if p.err != nil {
		return p.err
	}
	for name := range p.q {
		return fmt.Errorf("store URL %q: unknown parameter %q", p.url, name)
	}
	return nil
}
