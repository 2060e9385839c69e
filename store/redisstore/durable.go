package redisstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/durable"
)

// Defaults of StreamsOptions.
const (
	// DefaultStreamsSweep is how often each node removes expired streams.
	DefaultStreamsSweep = time.Second
	// streamsRetries bounds the optimistic retries of one operation that
	// other nodes keep overtaking.
	streamsRetries = 64
	// streamsRecheck wakes a Wait that heard nothing for this long, so that
	// a notification lost with a connection costs a delay, never a hang.
	streamsRecheck = 30 * time.Second
	// recordPage is how many records one ZRANGE of a read fetches.
	recordPage = 64
)

// StreamsOptions configures Streams.
type StreamsOptions struct {
	// Client is how to reach Redis.
	Client *redis.Options
	// Prefix names the keys, {Prefix}:ds:…; nodes sharing streams use the
	// same Prefix. Empty means DefaultPrefix.
	Prefix string
	// Sweep is the interval of the expiry sweep; 0 means DefaultStreamsSweep.
	Sweep time.Duration
}

// Streams is the durable.Store on Redis, shared by every node that opens
// the same prefix.
//
// Each stream is a string key holding its durable.Meta as JSON and, keyed
// by the stream's ID, a sorted set of its records scored by position, so
// that a read finds its first record with one ZREVRANGEBYSCORE and never
// touches other streams. Every operation runs the shared rules of package
// durable inside a WATCH/MULTI transaction on the metadata it reads:
// producer state, closure, metadata and data are written by one EXEC, and
// an operation overtaken by another node is retried. Each EXEC also
// PUBLISHes the names it changed on one channel, to which every node
// subscribes once, so live readers on every node wake up. A sorted set of
// expiry times lets each node's sweep find expired streams without a scan.
//
// Durability is Redis's: acknowledged means applied by Redis, on disk only
// as its AOF settings say.
type Streams struct {
	rdb     *redis.Client
	ps      *redis.PubSub
	addr    string
	prefix  string // "{prefix}:ds:"
	channel string

	// locks serialise this node's writers of one name (by hash), so that
	// optimistic retries are spent only on other nodes' writes.
	locks [64]sync.Mutex
	// countMu serialises this node's creates under a stream limit: they
	// all watch the one set of names, so run at once they overtake each
	// other until their retries run out (64 concurrent creates on one node
	// failed so with 503), while other nodes' are few. It is taken before
	// the transaction's connection, so that waiting for it holds none.
	countMu sync.Mutex

	waiters durable.Waiters

	mu     sync.Mutex
	closed bool
	done   chan struct{}
	bg     sync.WaitGroup
}

// change is what a commit tells every node about one name: its identity,
// tail and whether it is closed or gone, so that a Wait wakes only for a
// state past its own (a notification may arrive after the Wait looked).
type change struct {
	id, tail uint64
	final    bool // closed, deleted or removed
}

func (c change) encode(name string) string {
	f := "0"
	if c.final {
		f = "1"
	}
	return strconv.FormatUint(c.id, 10) + " " + strconv.FormatUint(c.tail, 10) + " " + f + " " + name
}

func decodeChange(payload string) (name string, c change, ok bool) {
	parts := strings.SplitN(payload, " ", 4)
	if len(parts) != 4 {
		return "", c, false
	}
	id, err1 := strconv.ParseUint(parts[0], 10, 64)
	tail, err2 := strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return "", c, false
	}
	return parts[3], change{id: id, tail: tail, final: parts[2] == "1"}, true
}

var _ durable.Store = (*Streams)(nil)

// OpenStreams connects to Redis, subscribes to the prefix's notifications
// and starts the expiry sweep; Close stops both.
func OpenStreams(ctx context.Context, opts StreamsOptions) (*Streams, error) {
	if opts.Client == nil {
		return nil, errors.New("redisstore: open streams: StreamsOptions.Client is nil")
	}
	co := *opts.Client
	co.MaxRetries = -1 // an EXEC is not idempotent on the wire; operations retry themselves
	if co.DialTimeout == 0 {
		co.DialTimeout = 2 * time.Second
	}
	p := opts.Prefix
	if p == "" {
		p = DefaultPrefix
	}
	s := &Streams{rdb: redis.NewClient(&co), addr: co.Addr, prefix: "{" + p + "}:ds:",
		done: make(chan struct{})}
	s.channel = s.prefix + "notify"
	ps := s.rdb.Subscribe(ctx, s.channel)
	if _, err := ps.Receive(ctx); err != nil { // the subscription's confirmation
		ps.Close()
		s.rdb.Close()
		return nil, fmt.Errorf("redisstore: open streams on %s: %w: %w", co.Addr, durable.ErrUnavailable, err)
	}
	every := opts.Sweep
	if every <= 0 {
		every = DefaultStreamsSweep
	}
	s.ps = ps
	s.bg.Add(2)
	go s.listen()
	go s.sweep(every)
	return s, nil
}

func (s *Streams) metaKey(name string) string  { return s.prefix + "m:" + name }
func (s *Streams) recordsKey(id uint64) string { return s.prefix + "r:" + strconv.FormatUint(id, 10) }
func (s *Streams) expiryKey() string           { return s.prefix + "exp" }
func (s *Streams) idKey() string               { return s.prefix + "id" }

// namesKey is the set of every stream's name, so that counting the streams
// (durable.StreamCounter) is one SCARD on every node; a set rather than a
// counter because SADD and SREM are idempotent, so re-writing a stream's
// metadata needs no knowledge of whether it existed.
func (s *Streams) namesKey() string { return s.prefix + "names" }

// listen wakes the local waiters of every name another node (or this one)
// changed. After a reconnection it wakes them all: what was published
// while the subscription was down is lost, so every waiter looks again.
func (s *Streams) listen() {
	defer s.bg.Done()
	ctx := context.Background()
	backoff := 10 * time.Millisecond
	for {
		msg, err := s.ps.Receive(ctx)
		switch m := msg.(type) {
		case *redis.Message:
			if name, c, ok := decodeChange(m.Payload); ok {
				s.waiters.Changed(name, c.id, c.tail, c.final)
			}
			backoff = 10 * time.Millisecond
			continue
		case *redis.Subscription:
			s.waiters.WakeAll()
			continue
		}
		if s.isClosed() {
			return
		}
		if err != nil {
			s.waiters.WakeAll()
			select {
			case <-s.done:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
		}
	}
}

// sweep removes the streams whose expiry has passed, a page at a time.
// Every node sweeps; the transactions keep their work from colliding.
func (s *Streams) sweep(every time.Duration) {
	defer s.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), every)
			names, err := s.rdb.ZRangeByScore(ctx, s.expiryKey(), &redis.ZRangeBy{
				Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: 256}).Result()
			for _, name := range names {
				if err != nil || ctx.Err() != nil {
					break
				}
				err = s.txn(ctx, name, "expire "+name, func(tx *redisTxn) error { return tx.expire(name, now) })
			}
			cancel()
		}
	}
}

func (s *Streams) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// fail wraps a Redis error: ErrStoreClosed after Close, the context's error
// when ctx ended, ErrUnavailable otherwise. The rules' own errors pass as
// they are.
func (s *Streams) fail(ctx context.Context, what string, err error) error {
	var rerr redis.Error
	var rules *redisErr
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rules):
		return rules.err
	case s.isClosed():
		return fmt.Errorf("redisstore: %s: %w", what, durable.ErrStoreClosed)
	case ctx.Err() != nil:
		return fmt.Errorf("redisstore: %s: %w", what, ctx.Err())
	case errors.As(err, &rerr):
		return fmt.Errorf("redisstore: %s on %s: %w", what, s.addr, err)
	default:
		return fmt.Errorf("redisstore: %s on %s: %w: %w", what, s.addr, durable.ErrUnavailable, err)
	}
}

// redisErr carries an error of the rules (not of Redis) out of a
// transaction, so fail returns it unchanged.
type redisErr struct{ err error }

func (e *redisErr) Error() string { return e.err.Error() }

// txn runs fn in an optimistic transaction and commits what it wrote; an
// EXEC that another node's write to a watched key aborted runs fn again.
func (s *Streams) txn(ctx context.Context, name, what string, fn func(*redisTxn) error) error {
	if s.isClosed() {
		return fmt.Errorf("redisstore: %s: %w", what, durable.ErrStoreClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	mu := &s.locks[fnv32(name)%uint32(len(s.locks))]
	mu.Lock()
	defer mu.Unlock()
	for attempt := range streamsRetries {
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			t := &redisTxn{ctx: ctx, s: s, tx: tx, metas: map[string]*durable.Meta{}, dirty: map[string]bool{},
				adds: map[uint64][]durable.Record{}, drops: map[uint64]bool{}}
			if err := fn(t); err != nil {
				if t.redisFailed != nil {
					return t.redisFailed
				}
				return &redisErr{err}
			}
			return t.commit()
		})
		if !errors.Is(err, redis.TxFailedErr) {
			return s.fail(ctx, what, err)
		}
		// Another node wrote in between: let it finish before looking again.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 5)))):
		}
	}
	return fmt.Errorf("redisstore: %s: overtaken by other writers %d times in a row: %w", what, streamsRetries, durable.ErrUnavailable)
}

// Create implements durable.Store.
func (s *Streams) Create(ctx context.Context, name string, req durable.CreateRequest) (res durable.CreateResult, err error) {
	if req.MaxStreams > 0 {
		s.countMu.Lock()
		defer s.countMu.Unlock()
	}
	err = s.txn(ctx, name, "create "+name, func(tx *redisTxn) error {
		res, err = durable.CreateIn(tx, name, req)
		return err
	})
	return res, err
}

// Append implements durable.Store.
func (s *Streams) Append(ctx context.Context, name string, req durable.AppendRequest) (res durable.AppendResult, err error) {
	err = s.txn(ctx, name, "append to "+name, func(tx *redisTxn) error {
		res, err = durable.AppendIn(tx, name, req)
		return err
	})
	return res, err
}

// Read implements durable.Store. Its EXEC, empty unless a sliding TTL is
// refreshed, checks that no other node changed the stream while its
// records were read, so a read never mixes two states.
func (s *Streams) Read(ctx context.Context, name string, req durable.ReadRequest) (res durable.ReadResult, err error) {
	err = s.txn(ctx, name, "read "+name, func(tx *redisTxn) error {
		res, err = durable.ReadIn(tx, name, req)
		return err
	})
	return res, err
}

// Stat implements durable.Store.
func (s *Streams) Stat(ctx context.Context, name string) (info durable.Info, err error) {
	err = s.txn(ctx, name, "stat "+name, func(tx *redisTxn) error {
		info, err = durable.StatIn(tx, name, time.Time{})
		return err
	})
	return info, err
}

// Delete implements durable.Store.
func (s *Streams) Delete(ctx context.Context, name string) error {
	return s.txn(ctx, name, "delete "+name, func(tx *redisTxn) error { return durable.DeleteIn(tx, name, time.Time{}) })
}

// Wait implements durable.Store. It registers before it looks, so a
// change published between the look and the wait still wakes it.
func (s *Streams) Wait(ctx context.Context, name string, id, pos uint64) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return durable.ErrStoreClosed
	}
	s.mu.Unlock()
	woken, remove := s.waiters.Add(name, id, pos)
	defer remove()

	raw, err := s.rdb.Get(ctx, s.metaKey(name)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return s.fail(ctx, "wait for "+name, err)
	}
	var m durable.Meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("redisstore: wait for %s: metadata: %w", name, err)
	}
	if m.ID != id || m.Tail > pos || m.Closed || m.Deleted {
		return nil
	}
	recheck := time.NewTimer(streamsRecheck)
	defer recheck.Stop()
	select {
	case <-woken:
		return nil
	case <-recheck.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return durable.ErrStoreClosed
	}
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// Health reports whether Redis answers.
func (s *Streams) Health(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return s.fail(ctx, "ping", err)
	}
	return nil
}

// Close implements durable.Store.
func (s *Streams) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	s.ps.Close() // ends listen's Receive, which no context interrupts
	s.bg.Wait()
	return s.rdb.Close()
}

// redisTxn is the durable.Txn of Streams: reads go to Redis (metadata
// under WATCH), writes collect in memory until commit sends them in one
// MULTI/EXEC.
type redisTxn struct {
	ctx   context.Context
	s     *Streams
	tx    *redis.Tx
	metas map[string]*durable.Meta // read or written; nil: none
	dirty map[string]bool
	adds  map[uint64][]durable.Record
	drops map[uint64]bool
	// redisFailed keeps a Redis error met by a Txn method, so that the
	// rules' wrapping of it does not hide it from txn's retry and fail.
	redisFailed error
}

func (t *redisTxn) redis(err error) error {
	if t.redisFailed == nil {
		t.redisFailed = err
	}
	return err
}

func (t *redisTxn) Meta(name string) (*durable.Meta, error) {
	m, ok := t.metas[name]
	if !ok {
		key := t.s.metaKey(name)
		if err := t.tx.Watch(t.ctx, key).Err(); err != nil {
			return nil, t.redis(err)
		}
		raw, err := t.tx.Get(t.ctx, key).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return nil, t.redis(err)
		default:
			m = new(durable.Meta)
			if err := json.Unmarshal(raw, m); err != nil {
				return nil, fmt.Errorf("redisstore: metadata of %s: %w", name, err)
			}
		}
		t.metas[name] = m
	}
	if m == nil {
		return nil, nil
	}
	c := *m
	c.Producers = cloneProducers(m.Producers)
	return &c, nil
}

func cloneProducers(p map[string]durable.ProducerState) map[string]durable.ProducerState {
	if p == nil {
		return nil
	}
	c := make(map[string]durable.ProducerState, len(p))
	for k, v := range p {
		c[k] = v
	}
	return c
}

// StreamCount implements durable.StreamCounter. It watches the set of
// names, which changes only when a stream is added or removed (SADD of a
// member it holds does not touch the key), so that two nodes creating the
// last stream the limit allows conflict and one retries and sees the other.
func (t *redisTxn) StreamCount() (int, error) {
	key := t.s.namesKey()
	if err := t.tx.Watch(t.ctx, key).Err(); err != nil {
		return 0, t.redis(err)
	}
	n, err := t.tx.SCard(t.ctx, key).Result()
	if err != nil {
		return 0, t.redis(err)
	}
	return int(n), nil
}

func (t *redisTxn) PutMeta(name string, m *durable.Meta) error {
	t.metas[name] = m
	t.dirty[name] = true
	return nil
}

func (t *redisTxn) DeleteMeta(name string) error {
	t.metas[name] = nil
	t.dirty[name] = true
	return nil
}

func (t *redisTxn) Records(id, from uint64, maxBytes int) ([]durable.Record, error) {
	var out []durable.Record
	used := 0
	if !t.drops[id] {
		key := t.s.recordsKey(id)
		// The record holding from starts at or before it.
		first, err := t.tx.ZRevRangeByScore(t.ctx, key, &redis.ZRangeBy{
			Max: strconv.FormatUint(from, 10), Min: "-inf", Count: 1}).Result()
		if err != nil {
			return nil, t.redis(err)
		}
		next := "(" + strconv.FormatUint(from, 10)
		if len(first) == 1 {
			r, err := decodeRecord(first[0])
			if err != nil {
				return nil, err
			}
			if r.Pos+r.Units > from {
				out, used = append(out, r), len(r.Data)
			}
		}
		for len(out) == 0 || used < maxBytes {
			page, err := t.tx.ZRangeByScore(t.ctx, key, &redis.ZRangeBy{Min: next, Max: "+inf", Count: recordPage}).Result()
			if err != nil {
				return nil, t.redis(err)
			}
			for _, raw := range page {
				if len(out) > 0 && used >= maxBytes {
					break
				}
				r, err := decodeRecord(raw)
				if err != nil {
					return nil, err
				}
				out, used = append(out, r), used+len(r.Data)
				next = "(" + strconv.FormatUint(r.Pos, 10)
			}
			if len(page) < recordPage {
				break
			}
		}
	}
	for _, r := range t.adds[id] {
		if r.Pos+r.Units > from && (len(out) == 0 || used < maxBytes) {
			out, used = append(out, r), used+len(r.Data)
		}
	}
	return out, nil
}

func (t *redisTxn) AddRecord(id uint64, r durable.Record) error {
	t.adds[id] = append(t.adds[id], r)
	return nil
}

func (t *redisTxn) DropRecords(id uint64) error {
	t.drops[id] = true
	delete(t.adds, id)
	return nil
}

// NewID draws from a counter outside the transaction: an ID that a retried
// operation leaves unused is a gap, never a reuse.
func (t *redisTxn) NewID() (uint64, error) {
	id, err := t.s.rdb.Incr(t.ctx, t.s.idKey()).Uint64()
	if err != nil {
		return 0, t.redis(err)
	}
	return id, nil
}

// expire removes name when it has expired at now, and otherwise corrects
// its entry in the expiry set (a stream deleted or touched meanwhile), so
// that stale entries cannot crowd the sweep's page.
func (t *redisTxn) expire(name string, now time.Time) error {
	m, err := t.Meta(name)
	switch {
	case err != nil:
		return err
	case m == nil:
		return t.DeleteMeta(name)
	case m.Expired(now) && !m.Deleted:
		return durable.ExpireIn(t, name, now)
	default:
		return t.PutMeta(name, m)
	}
}

// commit sends the collected writes in one MULTI/EXEC, with a notification
// for every name written. A transaction that wrote nothing still EXECs, so
// that WATCH confirms what it read was one state.
func (t *redisTxn) commit() error {
	_, err := t.tx.TxPipelined(t.ctx, func(p redis.Pipeliner) error {
		for id := range t.drops {
			p.Del(t.ctx, t.s.recordsKey(id))
		}
		for id, recs := range t.adds {
			zs := make([]redis.Z, len(recs))
			for i, r := range recs {
				zs[i] = redis.Z{Score: float64(r.Pos), Member: encodeRecord(r)}
			}
			p.ZAdd(t.ctx, t.s.recordsKey(id), zs...)
		}
		for name := range t.dirty {
			m := t.metas[name]
			if m == nil {
				p.Del(t.ctx, t.s.metaKey(name))
				p.ZRem(t.ctx, t.s.expiryKey(), name)
				p.SRem(t.ctx, t.s.namesKey(), name)
			} else {
				p.SAdd(t.ctx, t.s.namesKey(), name)
				raw, err := json.Marshal(m)
				if err != nil {
					return fmt.Errorf("redisstore: metadata of %s: %w", name, err)
				}
				p.Set(t.ctx, t.s.metaKey(name), raw, 0)
				if e := m.Expiry(); e.IsZero() || m.Deleted {
					p.ZRem(t.ctx, t.s.expiryKey(), name)
				} else {
					p.ZAdd(t.ctx, t.s.expiryKey(), redis.Z{Score: float64(e.UnixMilli()), Member: name})
				}
			}
			c := change{final: true}
			if m != nil {
				c = change{id: m.ID, tail: m.Tail, final: m.Closed || m.Deleted}
			}
			p.Publish(t.ctx, t.s.channel, c.encode(name))
		}
		return nil
	})
	return err
}

// A record is stored as its position and length in units (8 bytes each,
// big-endian) followed by its data: the position keeps members of one
// sorted set distinct, and a read needs nothing else.
func encodeRecord(r durable.Record) []byte {
	b := make([]byte, 16, 16+len(r.Data))
	binary.BigEndian.PutUint64(b, r.Pos)
	binary.BigEndian.PutUint64(b[8:], r.Units)
	return append(b, r.Data...)
}

func decodeRecord(raw string) (durable.Record, error) {
	if len(raw) < 16 {
		return durable.Record{}, fmt.Errorf("redisstore: a record of %d bytes is shorter than its header", len(raw))
	}
	return durable.Record{Pos: binary.BigEndian.Uint64([]byte(raw[:8])), Units: binary.BigEndian.Uint64([]byte(raw[8:16])),
		Data: []byte(raw[16:])}, nil
}
