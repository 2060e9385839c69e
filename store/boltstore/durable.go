package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ssehub/ssehub/durable"
)

// DefaultSweep is how often Streams removes expired streams when
// StreamsOptions.Sweep is 0.
const DefaultSweep = time.Second

var (
	bucketStreams  = []byte("streams")  // name → JSON durable.Meta
	bucketRecords  = []byte("records")  // big-endian ID ‖ position → units ‖ data
	bucketExpiring = []byte("expiring") // names of streams with a TTL or Expires-At
	bucketCounts   = []byte("counts")   // keyCount → big-endian number of keys in bucketStreams
)

// StreamsOptions configures Streams.
type StreamsOptions struct {
	// Timeout bounds the wait for the file lock; 0 means DefaultTimeout.
	Timeout time.Duration
	// Sweep is the interval of the expiry sweep; 0 means DefaultSweep.
	Sweep time.Duration
}

// Streams is the durable.Store in a bbolt file of its own (by default the
// hub store's sibling, ssehub-streams.db). Layout: bucket "streams" maps
// each name to its metadata; bucket "records" maps the stream's ID and a
// record's position (both big-endian, so one stream's records are one key
// range in position order) to the record; a read is a cursor seek into
// that range and never touches other streams. Writes are group-committed
// (committer): concurrent appends share one transaction and one fsync, a
// lone append is committed at once, and each returns only after its fsync.
// It is safe for concurrent use by one process.
type Streams struct {
	db     *bolt.DB
	path   string
	commit *committer

	mu      sync.Mutex
	waiters map[string]chan struct{}
	closed  bool
	done    chan struct{}
	bg      sync.WaitGroup // the sweep and the committer
}

var _ durable.Store = (*Streams)(nil)

// OpenStreams opens (creating it if needed) the bbolt file at path and
// starts its expiry sweep; Close stops it and closes the file.
func OpenStreams(path string, opts StreamsOptions) (*Streams, error) {
	timeout := cmpOr(opts.Timeout, DefaultTimeout)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("boltstore: open %s: locked by another process for %s: %w", path, timeout, err)
		}
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketStreams, bucketRecords, bucketExpiring, bucketCounts} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if tx.Bucket(bucketCounts).Get(keyCount) == nil {
			// A file from before the count: count once, then keep it.
			n := tx.Bucket(bucketStreams).Stats().KeyN
			return tx.Bucket(bucketCounts).Put(keyCount, binary.BigEndian.AppendUint64(nil, uint64(n)))
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: create buckets: %w", path, err)
	}
	s := &Streams{db: db, path: path, waiters: map[string]chan struct{}{}, done: make(chan struct{})}
	s.commit = newCommitter(db, s.done)
	s.bg.Add(2)
	go func() {
		defer s.bg.Done()
		s.commit.run()
	}()
	go s.sweep(cmpOr(opts.Sweep, DefaultSweep))
	return s, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (s *Streams) sweep(every time.Duration) {
	defer s.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			var expired []string
			_ = s.db.View(func(tx *bolt.Tx) error {
				bt := &boltTxn{tx: tx}
				return tx.Bucket(bucketExpiring).ForEach(func(k, _ []byte) error {
					if m, err := bt.Meta(string(k)); err == nil && (m == nil || m.Expired(now)) {
						expired = append(expired, string(k))
					}
					return nil
				})
			})
			if len(expired) == 0 {
				continue
			}
			err := s.db.Update(func(tx *bolt.Tx) error {
				bt := &boltTxn{tx: tx}
				for _, name := range expired {
					m, err := bt.Meta(name)
					if err != nil {
						return err
					}
					if m == nil || m.Deleted {
						if err := tx.Bucket(bucketExpiring).Delete([]byte(name)); err != nil {
							return err
						}
						continue
					}
					if err := durable.ExpireIn(bt, name, now); err != nil {
						return err
					}
				}
				return nil
			})
			if err == nil {
				for _, name := range expired {
					s.notify(name)
				}
			}
		}
	}
}

func (s *Streams) notify(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.waiters[name]; ok {
		close(ch)
		delete(s.waiters, name)
	}
}

// write runs fn in a group-committed write transaction and wakes name's
// waiters after the commit. fn may run more than once (see committer.do),
// so it only sets its results.
func (s *Streams) write(ctx context.Context, op, name string, fn func(*boltTxn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var ruleErr error
	err := s.commit.do(func(tx *bolt.Tx) error {
		ruleErr = fn(&boltTxn{tx: tx})
		if ruleErr != nil && !isRule(ruleErr) {
			return ruleErr
		}
		return nil
	})
	if err != nil {
		return s.wrap(op, name, err)
	}
	if ruleErr == nil {
		s.notify(name)
	}
	return ruleErr
}

// isRule says whether err is a protocol answer (the transaction commits
// nothing harmful: the rules write only on success) rather than a failure.
func isRule(err error) bool {
	for _, e := range []error{durable.ErrNotFound, durable.ErrGone, durable.ErrConflict, durable.ErrClosed,
		durable.ErrContentType, durable.ErrSeq, durable.ErrStaleEpoch, durable.ErrProducerGap,
		durable.ErrProducerEpochSeq, durable.ErrBadFork, durable.ErrBadOffset} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *Streams) wrap(op, name string, err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return durable.ErrStoreClosed
	}
	return fmt.Errorf("boltstore: %s %q in %s: %w", op, name, s.path, err)
}

// Create implements durable.Store.
func (s *Streams) Create(ctx context.Context, name string, req durable.CreateRequest) (res durable.CreateResult, err error) {
	err = s.write(ctx, "create", name, func(tx *boltTxn) error {
		res, err = durable.CreateIn(tx, name, req)
		return err
	})
	return res, err
}

// Append implements durable.Store.
func (s *Streams) Append(ctx context.Context, name string, req durable.AppendRequest) (res durable.AppendResult, err error) {
	err = s.write(ctx, "append to", name, func(tx *boltTxn) error {
		res, err = durable.AppendIn(tx, name, req)
		return err
	})
	return res, err
}

// Delete implements durable.Store.
func (s *Streams) Delete(ctx context.Context, name string) error {
	return s.write(ctx, "delete", name, func(tx *boltTxn) error { return durable.DeleteIn(tx, name, time.Time{}) })
}

// Read implements durable.Store. It reads in a read-only transaction; a
// stream with a sliding TTL then has its access time moved forward in a
// group-committed write.
func (s *Streams) Read(ctx context.Context, name string, req durable.ReadRequest) (res durable.ReadResult, err error) {
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	var touched *durable.Meta
	var ruleErr error
	err = s.db.View(func(tx *bolt.Tx) error {
		bt := &boltTxn{tx: tx, readOnly: true}
		res, ruleErr = durable.ReadIn(bt, name, req)
		touched = bt.touched
		if ruleErr != nil && !isRule(ruleErr) {
			return ruleErr
		}
		return nil
	})
	if err != nil {
		return res, s.wrap("read", name, err)
	}
	if errors.Is(ruleErr, durable.ErrNotFound) || errors.Is(ruleErr, durable.ErrGone) {
		// The read found it expired: let a write transaction remove it.
		_ = s.write(ctx, "expire", name, func(tx *boltTxn) error { return durable.ExpireIn(tx, name, req.Now) })
	}
	if ruleErr != nil {
		return res, ruleErr
	}
	if touched != nil {
		err = s.write(ctx, "touch", name, func(tx *boltTxn) error {
			m, err := tx.Meta(name)
			if err != nil || m == nil || m.ID != touched.ID || !m.Accessed.Before(req.Now) {
				return err
			}
			m.Accessed = req.Now
			return tx.PutMeta(name, m)
		})
	}
	return res, err
}

// Stat implements durable.Store.
func (s *Streams) Stat(ctx context.Context, name string) (info durable.Info, err error) {
	if err := ctx.Err(); err != nil {
		return info, err
	}
	var ruleErr error
	err = s.db.View(func(tx *bolt.Tx) error {
		info, ruleErr = durable.StatIn(&boltTxn{tx: tx, readOnly: true}, name, time.Time{})
		if ruleErr != nil && !isRule(ruleErr) {
			return ruleErr
		}
		return nil
	})
	if err != nil {
		return info, s.wrap("stat", name, err)
	}
	if errors.Is(ruleErr, durable.ErrNotFound) || errors.Is(ruleErr, durable.ErrGone) {
		_ = s.write(ctx, "expire", name, func(tx *boltTxn) error { return durable.ExpireIn(tx, name, time.Now()) })
	}
	return info, ruleErr
}

// Wait implements durable.Store.
func (s *Streams) Wait(ctx context.Context, name string, id, pos uint64) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return durable.ErrStoreClosed
	}
	ch, ok := s.waiters[name]
	if !ok {
		ch = make(chan struct{})
		s.waiters[name] = ch
	}
	s.mu.Unlock()
	// Registered first, checked second: a commit between the two closes ch.
	var m *durable.Meta
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		m, err = (&boltTxn{tx: tx, readOnly: true}).Meta(name)
		return err
	})
	if err != nil {
		return s.wrap("wait on", name, err)
	}
	if m == nil || m.ID != id || m.Tail > pos || m.Closed || m.Deleted || m.Expired(time.Now()) {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return durable.ErrStoreClosed
	}
}

// Close implements durable.Store: it ends pending Waits and closes the file.
func (s *Streams) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	s.bg.Wait()
	return s.db.Close()
}

// boltTxn is the durable.Txn over one bbolt transaction. In a read-only
// transaction the one write the rules make, a read's TTL refresh, is
// recorded in touched for a later write.
type boltTxn struct {
	tx       *bolt.Tx
	readOnly bool
	touched  *durable.Meta
}

func recordKey(id, pos uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), id), pos)
}

func (t *boltTxn) Meta(name string) (*durable.Meta, error) {
	v := t.tx.Bucket(bucketStreams).Get([]byte(name))
	if v == nil {
		return nil, nil
	}
	m := new(durable.Meta)
	if err := json.Unmarshal(v, m); err != nil {
		return nil, fmt.Errorf("stream %q: corrupt metadata: %w", name, err)
	}
	return m, nil
}

// keyCount is bucketCounts' key of the number of streams, kept in the
// transactions that add and remove them so that counting is one read.
var keyCount = []byte("streams")

// StreamCount implements durable.StreamCounter.
func (t *boltTxn) StreamCount() (int, error) {
	v := t.tx.Bucket(bucketCounts).Get(keyCount)
	if len(v) != 8 {
		return 0, errors.New("boltstore: corrupt stream count")
	}
	return int(binary.BigEndian.Uint64(v)), nil
}

func (t *boltTxn) addCount(delta int) error {
	n, err := t.StreamCount()
	if err != nil {
		return err
	}
	return t.tx.Bucket(bucketCounts).Put(keyCount, binary.BigEndian.AppendUint64(nil, uint64(n+delta)))
}

func (t *boltTxn) PutMeta(name string, m *durable.Meta) error {
	if t.readOnly {
		if !m.Deleted {
			t.touched = m
		}
		return nil
	}
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if t.tx.Bucket(bucketStreams).Get([]byte(name)) == nil {
		if err := t.addCount(1); err != nil {
			return err
		}
	}
	if err := t.tx.Bucket(bucketStreams).Put([]byte(name), v); err != nil {
		return err
	}
	if m.TTL > 0 || !m.ExpiresAt.IsZero() {
		return t.tx.Bucket(bucketExpiring).Put([]byte(name), nil)
	}
	return nil
}

func (t *boltTxn) DeleteMeta(name string) error {
	if t.readOnly {
		return nil // an expiry found by a read; the read's caller removes it in a write
	}
	if err := t.tx.Bucket(bucketExpiring).Delete([]byte(name)); err != nil {
		return err
	}
	if t.tx.Bucket(bucketStreams).Get([]byte(name)) != nil {
		if err := t.addCount(-1); err != nil {
			return err
		}
	}
	return t.tx.Bucket(bucketStreams).Delete([]byte(name))
}

func (t *boltTxn) Records(id, from uint64, maxBytes int) ([]durable.Record, error) {
	c := t.tx.Bucket(bucketRecords).Cursor()
	prefix := binary.BigEndian.AppendUint64(nil, id)
	k, v := c.Seek(recordKey(id, from))
	// from may lie inside the record before the one Seek finds.
	switch {
	case k == nil:
		k, v = c.Last()
	case !bytes.Equal(k[:8], prefix) || binary.BigEndian.Uint64(k[8:]) > from:
		k, v = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		k, v = c.Seek(recordKey(id, from))
	}
	var out []durable.Record
	used := 0
	for ; k != nil && bytes.Equal(k[:8], prefix) && (len(out) == 0 || used < maxBytes); k, v = c.Next() {
		if len(k) != 16 || len(v) < 8 {
			return nil, fmt.Errorf("corrupt record %x", k)
		}
		r := durable.Record{Pos: binary.BigEndian.Uint64(k[8:]), Units: binary.BigEndian.Uint64(v), Data: bytes.Clone(v[8:])}
		if r.Pos+r.Units <= from {
			continue
		}
		out = append(out, r)
		used += len(r.Data)
	}
	return out, nil
}

func (t *boltTxn) AddRecord(id uint64, r durable.Record) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(r.Data)), r.Units)
	return t.tx.Bucket(bucketRecords).Put(recordKey(id, r.Pos), append(v, r.Data...))
}

func (t *boltTxn) DropRecords(id uint64) error {
	if t.readOnly {
		return nil
	}
	c := t.tx.Bucket(bucketRecords).Cursor()
	prefix := binary.BigEndian.AppendUint64(nil, id)
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

func (t *boltTxn) NewID() (uint64, error) { return t.tx.Bucket(bucketStreams).NextSequence() }
