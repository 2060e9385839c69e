// Package redisstore is the hub.Store on Redis Streams, shared by every
// ssehub node that opens the same key prefix: they form one hub.
//
// One Lua script appends: it INCRs the Seq counter, XADDs the entry with the
// explicit ID "<seq>-0" (so stream order is Seq order on every node),
// records its Seq under its id (ids may repeat; Lookup answers the
// earliest), and trims by count and age with XTRIM MINID, all atomically. The script also keeps the bytes of
// history in a counter of its own and trims the oldest entries while they
// exceed MaxBytes: Redis holds history in memory. Each entry carries its publication time
// in milliseconds; age trimming drops the oldest entries whose time is
// older than MaxAge, at every append (and Lookup/Read/Last ignore expired
// entries in between). Follow is one XREAD BLOCK loop per node.
//
// The store keeps Idempotency-Key records too (idempotency.go), under
// {prefix}:idem:<key>, expired by Redis.
//
// Durability is the operator's: a Redis without AOF (appendonly yes,
// appendfsync everysec or always) loses the history when it restarts.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/internal/codec"
)

// Defaults of Options.
const (
	DefaultPrefix     = "ssehub"
	DefaultMaxUpdates = 1_000_000
	// DefaultMaxBytes bounds history by size: Redis keeps it in memory.
	DefaultMaxBytes = 256 << 20
	// entryOverhead is what an entry counts against MaxBytes beyond its id
	// and JSON: its stream entry, field names and the id's hash field.
	entryOverhead = 64
	// FollowBlock is how long one XREAD of Follow blocks; it bounds how long
	// Follow takes to notice that its context ended.
	FollowBlock = 200 * time.Millisecond
	followBatch = 512
)

// Options configures a Store.
type Options struct {
	// Client is how to reach Redis (redis.ParseURL makes one from a URL).
	// Its MaxRetries is forced to -1: Append is not idempotent on the wire,
	// and a blind retry could store an update twice; the publisher retries
	// instead, with its Idempotency-Key.
	Client *redis.Options
	// Prefix names the keys: {Prefix}:stream, {Prefix}:ids, {Prefix}:seq
	// and {Prefix}:bytes. Nodes of one hub use the same Prefix. Empty means
	// DefaultPrefix.
	Prefix string
	// MaxUpdates bounds history by count (the stream's MAXLEN): 0 means
	// DefaultMaxUpdates.
	MaxUpdates int
	// MaxBytes bounds history by size: each entry's id and JSON plus 64
	// bytes. The newest update is kept even when it alone is larger. 0
	// means DefaultMaxBytes; negative, no byte bound.
	MaxBytes int64
	// MaxAge drops updates older than this; 0 keeps them whatever their age.
	MaxAge time.Duration
	// Now is the clock used for MaxAge; nil means time.Now.
	Now func() time.Time
}

// Store is a hub.Store on a Redis stream. It is safe for concurrent use.
type Store struct {
	rdb                  *redis.Client
	addr                 string
	prefix               string // "{Prefix}", the keys' hash tag
	stream, ids, counter string
	bytes                string // the key of the bytes of history
	max                  int
	maxBytes             int64
	maxAge               time.Duration
	now                  func() time.Time

	mu     sync.Mutex
	closed bool
	done   chan struct{} // closed by Close
}

var _ hub.Store = (*Store)(nil)
var _ hub.HealthChecker = (*Store)(nil)

// Open connects to Redis and checks that it answers.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Client == nil {
		return nil, errors.New("redisstore: open: Options.Client is nil")
	}
	if opts.MaxUpdates < 0 {
		return nil, fmt.Errorf("redisstore: open: MaxUpdates %d is negative; the redis store always keeps history", opts.MaxUpdates)
	}
	co := *opts.Client
	co.MaxRetries = -1
	if co.DialTimeout == 0 {
		co.DialTimeout = 2 * time.Second
	}
	p := opts.Prefix
	if p == "" {
		p = DefaultPrefix
	}
	s := &Store{rdb: redis.NewClient(&co), addr: co.Addr, max: opts.MaxUpdates, maxBytes: opts.MaxBytes, maxAge: opts.MaxAge, now: opts.Now,
		prefix: "{" + p + "}", stream: "{" + p + "}:stream", ids: "{" + p + "}:ids", counter: "{" + p + "}:seq", bytes: "{" + p + "}:bytes", done: make(chan struct{})}
	if s.max == 0 {
		s.max = DefaultMaxUpdates
	}
	if s.maxBytes == 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.Health(ctx); err != nil {
		s.rdb.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) keys() []string { return []string{s.stream, s.ids, s.counter, s.bytes} }

// cutMs is the time in Unix milliseconds before which updates are expired,
// or 0 without an age limit.
func (s *Store) cutMs() int64 {
	if s.maxAge <= 0 {
		return 0
	}
	return s.now().Add(-s.maxAge).UnixMilli()
}

// fail wraps err from an operation: ErrClosed after Close, the context's
// error when ctx ended, ErrUnavailable otherwise.
func (s *Store) fail(ctx context.Context, what string, err error) error {
	if s.isClosed() {
		return fmt.Errorf("redisstore: %s: %w", what, hub.ErrClosed)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("redisstore: %s: %w", what, ctx.Err())
	}
	return fmt.Errorf("redisstore: %s on %s: %w: %w", what, s.addr, hub.ErrUnavailable, err)
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Append stores u with one script call and sets u.Seq. See hub.Store.
func (s *Store) Append(ctx context.Context, u *hub.Update) error {
	what := fmt.Sprintf("append %q", u.ID)
	if s.isClosed() {
		return fmt.Errorf("redisstore: %s: %w", what, hub.ErrClosed)
	}
	if u.Time.IsZero() {
		u.Time = s.now()
	}
	b, err := codec.Marshal(u)
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", what, err)
	}
	res, err := appendScript.Run(ctx, s.rdb, s.keys(), u.ID, b, u.Time.UnixMilli(), s.max, s.cutMs(),
		max(s.maxBytes, 0), len(u.ID)+len(b)+entryOverhead).Text()
	if err != nil {
		return s.fail(ctx, what, err)
	}
	seq, err := strconv.ParseUint(res, 10, 64)
	if err != nil {
		return fmt.Errorf("redisstore: %s: bad seq in script reply %q: %w", what, res, err)
	}
	u.Seq = seq
	return nil
}

// Lookup returns the Seq of the earliest update with this ID. See
// hub.Store.
func (s *Store) Lookup(ctx context.Context, id string) (uint64, error) {
	what := fmt.Sprintf("lookup %q", id)
	if s.isClosed() {
		return 0, fmt.Errorf("redisstore: %s: %w", what, hub.ErrClosed)
	}
	res, err := lookupScript.Run(ctx, s.rdb, s.keys(), id, s.cutMs()).Text()
	if errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("redisstore: %s: %w", what, hub.ErrUnknownID)
	}
	if err != nil {
		return 0, s.fail(ctx, what, err)
	}
	seq, err := strconv.ParseUint(res, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redisstore: %s: bad seq %q: %w", what, res, err)
	}
	return seq, nil
}

// decode turns a stream entry into an update.
func decode(m redis.XMessage) (*hub.Update, error) {
	// Once per update fanned out or replayed: no fmt.Sscanf here.
	head, _, ok := strings.Cut(m.ID, "-")
	if !ok {
		return nil, fmt.Errorf("redisstore: entry id %q is not <seq>-0", m.ID)
	}
	seq, err := strconv.ParseUint(head, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("redisstore: entry id %q is not <seq>-0: %w", m.ID, err)
	}
	raw, _ := m.Values["u"].(string)
	return codec.Unmarshal([]byte(raw), seq)
}

// expired reports whether entry m is older than MaxAge.
func (s *Store) expired(m redis.XMessage, cut int64) bool {
	if cut == 0 {
		return false
	}
	t, _ := m.Values["t"].(string)
	ms, err := strconv.ParseInt(t, 10, 64)
	return err == nil && ms < cut
}

// Read returns up to limit updates after afterSeq. See hub.Store.
func (s *Store) Read(ctx context.Context, afterSeq uint64, limit int) ([]*hub.Update, error) {
	what := fmt.Sprintf("read after %d", afterSeq)
	if s.isClosed() {
		return nil, fmt.Errorf("redisstore: %s: %w", what, hub.ErrClosed)
	}
	if limit <= 0 {
		return nil, nil
	}
	msgs, err := s.rdb.XRangeN(ctx, s.stream, fmt.Sprintf("%d-0", afterSeq+1), "+", int64(limit)).Result()
	if err != nil {
		return nil, s.fail(ctx, what, err)
	}
	cut := s.cutMs()
	out := make([]*hub.Update, 0, len(msgs))
	for _, m := range msgs {
		if s.expired(m, cut) {
			continue
		}
		u, err := decode(m)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// Last returns the newest update, or nil. See hub.Store.
func (s *Store) Last(ctx context.Context) (*hub.Update, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("redisstore: last: %w", hub.ErrClosed)
	}
	msgs, err := s.rdb.XRevRangeN(ctx, s.stream, "+", "-", 1).Result()
	if err != nil {
		return nil, s.fail(ctx, "last", err)
	}
	if len(msgs) == 0 || s.expired(msgs[0], s.cutMs()) {
		return nil, nil
	}
	return decode(msgs[0])
}

// Follow delivers every update after afterSeq to fn, from one XREAD BLOCK
// loop. When Redis goes away it retries with backoff (up to 2s) and resumes
// after the last Seq it delivered, so nothing still in history is missed.
// See hub.Store.
func (s *Store) Follow(ctx context.Context, afterSeq uint64, fn func(*hub.Update) error) error {
	cursor := afterSeq
	backoff := time.Duration(0)
	for {
		if s.isClosed() {
			return fmt.Errorf("redisstore: follow: %w", hub.ErrClosed)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := s.rdb.XRead(ctx, &redis.XReadArgs{
			Streams: []string{s.stream, fmt.Sprintf("%d-0", cursor)},
			Count:   followBatch,
			Block:   FollowBlock,
		}).Result()
		if errors.Is(err, redis.Nil) {
			backoff = 0
			continue
		}
		if err != nil {
			backoff = min(max(2*backoff, 50*time.Millisecond), 2*time.Second)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.done:
				return fmt.Errorf("redisstore: follow: %w", hub.ErrClosed)
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		for _, st := range res {
			for _, m := range st.Messages {
				u, err := decode(m)
				if err != nil {
					return err
				}
				if err := fn(u); err != nil {
					return err
				}
				cursor = u.Seq
			}
		}
	}
}

// Health pings Redis.
func (s *Store) Health(ctx context.Context) error {
	if s.isClosed() {
		return fmt.Errorf("redisstore: health: %w", hub.ErrClosed)
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return s.fail(ctx, "ping", err)
	}
	return nil
}

// Close closes the connections and makes Follow return. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	return s.rdb.Close()
}
