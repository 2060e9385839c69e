// Package boltstore is the embedded, durable hub.Store: one bbolt file,
// written by one process. Every Append is committed (and fsynced, bbolt's
// default) before it returns, so an update acknowledged to a publisher
// survives a crash of the process, SIGKILL included.
//
// Layout of the file: bucket "updates" maps the big-endian uint64 Seq
// (bbolt's NextSequence, so Seq order is key order) to the update's time
// (8 bytes, big-endian Unix nanoseconds) followed by its JSON; bucket
// "idseqs" holds one empty-valued key per update, its ID, a NUL byte (which
// IDs cannot contain) and its Seq, so that the occurrences of an ID sort
// oldest first and Lookup is one Seek (files written before ids could
// repeat have a bucket "ids" of ID → Seq instead; Open rebuilds the index
// from the updates and drops it); bucket "meta" holds the running total of
// the updates' sizes under "bytes". Pruning by bytes, count and age happens
// in the write transaction of Append, so history never exceeds its bounds
// on disk (bbolt's file itself grows to the largest history it held, and
// reuses that space; it does not shrink).
//
// The same file keeps the Idempotency-Key records (idempotency.go).
//
// The file is locked: a second process opening it waits Options.Timeout
// and fails. Several nodes sharing one hub need the Redis or NATS store.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/internal/codec"
)

// Defaults of Options: history on disk is bounded by its bytes first.
const (
	DefaultMaxUpdates = 1_000_000
	DefaultMaxBytes   = 1 << 30
)

// DefaultTimeout is how long Open waits for another process's lock.
const DefaultTimeout = 2 * time.Second

var (
	bucketUpdates = []byte("updates")
	bucketIDs     = []byte("idseqs")
	bucketOldIDs  = []byte("ids")
	bucketMeta    = []byte("meta")
	keyBytes      = []byte("bytes")
)

// Options configures a Store.
type Options struct {
	// MaxUpdates bounds history by count: 0 means DefaultMaxUpdates.
	MaxUpdates int
	// MaxBytes bounds history by size: each update's stored form, its id
	// and two keys of 8 bytes. The newest update is kept even when it alone
	// is larger. 0 means DefaultMaxBytes; negative, no byte bound.
	MaxBytes int64
	// MaxAge drops updates older than this; 0 keeps them whatever their age.
	MaxAge time.Duration
	// Timeout bounds the wait for the file lock; 0 means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock used for MaxAge; nil means time.Now.
	Now func() time.Time
}

// Store is a hub.Store in a bbolt file. It is safe for concurrent use.
type Store struct {
	db       *bolt.DB
	path     string
	max      int
	maxBytes int64
	maxAge   time.Duration
	now      func() time.Time

	mu     sync.Mutex
	notify chan struct{} // closed and replaced after every commit and on Close
	closed bool
}

var _ hub.Store = (*Store)(nil)

// Open opens (creating it if needed) the bbolt file at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.MaxUpdates < 0 {
		return nil, fmt.Errorf("boltstore: open %s: MaxUpdates %d is negative; the bolt store always keeps history", path, opts.MaxUpdates)
	}
	s := &Store{path: path, max: opts.MaxUpdates, maxBytes: opts.MaxBytes, maxAge: opts.MaxAge, now: opts.Now, notify: make(chan struct{})}
	if s.max == 0 {
		s.max = DefaultMaxUpdates
	}
	if s.maxBytes == 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType, InitialMmapSize: 64 << 20})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("boltstore: open %s: locked by another process for %s (one ssehub per bolt file; several nodes need redis:// or nats://): %w", path, timeout, err)
		}
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketUpdates, bucketIDs, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if tx.Bucket(bucketOldIDs) != nil {
			if err := reindex(tx); err != nil {
				return err
			}
		}
		if tx.Bucket(bucketMeta).Get(keyBytes) != nil {
			return nil
		}
		// A file written before sizes were kept: count them once.
		var total int64
		err := tx.Bucket(bucketUpdates).ForEach(func(k, v []byte) error {
			if u, err := decode(k, v); err == nil {
				total += entrySize(v, u.ID)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return setBytes(tx, total)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: create buckets: %w", path, err)
	}
	s.db = db
	return s, nil
}

// Path returns the file the store is in.
func (s *Store) Path() string { return s.path }

func key(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// idKey is the key of bucket "idseqs" for the update with this id and seq.
func idKey(id string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(append(make([]byte, 0, len(id)+9), id...), 0), seq)
}

// reindex fills bucket "idseqs" from the updates and deletes the index of
// files written by earlier versions, in tx.
func reindex(tx *bolt.Tx) error {
	ids := tx.Bucket(bucketIDs)
	err := tx.Bucket(bucketUpdates).ForEach(func(k, v []byte) error {
		u, err := decode(k, v)
		if err != nil {
			return err
		}
		return ids.Put(idKey(u.ID, u.Seq), nil)
	})
	if err != nil {
		return fmt.Errorf("rebuild the id index: %w", err)
	}
	return tx.DeleteBucket(bucketOldIDs)
}

// entrySize is what an update stored as v under id counts against
// MaxBytes: the value, the id and the two 8-byte keys.
func entrySize(v []byte, id string) int64 { return int64(len(v) + len(id) + 16) }

func getBytes(tx *bolt.Tx) int64 {
	v := tx.Bucket(bucketMeta).Get(keyBytes)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func setBytes(tx *bolt.Tx, n int64) error {
	return tx.Bucket(bucketMeta).Put(keyBytes, binary.BigEndian.AppendUint64(nil, uint64(max(n, 0))))
}

// value is what bucket "updates" holds for u.
func value(u *hub.Update) ([]byte, error) {
	b, err := codec.Marshal(u)
	if err != nil {
		return nil, err
	}
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(b)), uint64(u.Time.UnixNano())), b...), nil
}

// timeOf returns the time at the head of a stored value.
func timeOf(v []byte) time.Time {
	if len(v) < 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v)))
}

func decode(k, v []byte) (*hub.Update, error) {
	if len(k) != 8 || len(v) < 8 {
		return nil, fmt.Errorf("boltstore: corrupt entry with key %x", k)
	}
	return codec.Unmarshal(v[8:], binary.BigEndian.Uint64(k))
}

// cutoff returns the time before which updates are expired, or the zero
// time when there is no age limit.
func (s *Store) cutoff() time.Time {
	if s.maxAge <= 0 {
		return time.Time{}
	}
	return s.now().Add(-s.maxAge)
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Append stores u in one committed transaction and sets u.Seq. See
// hub.Store.
func (s *Store) Append(ctx context.Context, u *hub.Update) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosed() {
		return fmt.Errorf("boltstore: append %q: %w", u.ID, hub.ErrClosed)
	}
	if u.Time.IsZero() {
		u.Time = s.now()
	}
	val, err := value(u)
	if err != nil {
		return fmt.Errorf("boltstore: append %q: %w", u.ID, err)
	}
	cut := s.cutoff()
	err = s.db.Update(func(tx *bolt.Tx) error {
		ups, ids := tx.Bucket(bucketUpdates), tx.Bucket(bucketIDs)
		total := getBytes(tx)
		s.prune(ups, ids, cut, 0, &total)
		seq, err := ups.NextSequence()
		if err != nil {
			return err
		}
		if err := ups.Put(key(seq), val); err != nil {
			return err
		}
		if err := ids.Put(idKey(u.ID, seq), nil); err != nil {
			return err
		}
		u.Seq = seq
		total += entrySize(val, u.ID)
		s.prune(ups, ids, cut, seq, &total)
		return setBytes(tx, total)
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return fmt.Errorf("boltstore: append %q: %w", u.ID, hub.ErrClosed)
	}
	if err != nil {
		return fmt.Errorf("boltstore: append %q to %s: %w", u.ID, s.path, err)
	}
	s.mu.Lock()
	if !s.closed {
		close(s.notify)
		s.notify = make(chan struct{})
	}
	s.mu.Unlock()
	return nil
}

// prune deletes the oldest updates beyond MaxUpdates and MaxBytes (when
// last, the newest Seq, is not 0; the newest itself is kept) and those older
// than cut (when not zero), in tx, keeping *total, the bytes of history, up
// to date.
func (s *Store) prune(ups, ids *bolt.Bucket, cut time.Time, last uint64, total *int64) {
	c := ups.Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		seq := binary.BigEndian.Uint64(k)
		tooMany := last != 0 && last-seq >= uint64(s.max) // seqs are contiguous
		tooLarge := last != 0 && seq != last && s.maxBytes > 0 && *total > s.maxBytes
		if !tooMany && !tooLarge && !expired(v, cut) {
			return
		}
		if u, err := decode(k, v); err == nil {
			ids.Delete(idKey(u.ID, seq))
			*total -= entrySize(v, u.ID)
		}
		c.Delete()
	}
}

// Lookup returns the Seq of the earliest update with this ID. See
// hub.Store.
func (s *Store) Lookup(ctx context.Context, id string) (uint64, error) {
	var seq uint64
	cut := s.cutoff()
	err := s.view("lookup "+id, func(tx *bolt.Tx) error {
		prefix := append([]byte(id), 0)
		ups := tx.Bucket(bucketUpdates)
		c := tx.Bucket(bucketIDs).Cursor()
		for k, _ := c.Seek(prefix); k != nil && len(k) == len(prefix)+8 && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			sk := k[len(prefix):]
			// Expired updates not pruned yet are the oldest: skip them.
			if v := ups.Get(sk); v != nil && !expired(v, cut) {
				seq = binary.BigEndian.Uint64(sk)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if seq == 0 {
		return 0, fmt.Errorf("boltstore: lookup %q: %w", id, hub.ErrUnknownID)
	}
	return seq, nil
}

// expired reports whether the stored update v is older than cut (a zero
// cut: no age limit).
func expired(v []byte, cut time.Time) bool {
	return !cut.IsZero() && timeOf(v).Before(cut)
}

// view runs fn in a read transaction, mapping a closed store to ErrClosed.
func (s *Store) view(what string, fn func(tx *bolt.Tx) error) error {
	if s.isClosed() {
		return fmt.Errorf("boltstore: %s: %w", what, hub.ErrClosed)
	}
	err := s.db.View(fn)
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return fmt.Errorf("boltstore: %s: %w", what, hub.ErrClosed)
	}
	if err != nil {
		return fmt.Errorf("boltstore: %s in %s: %w", what, s.path, err)
	}
	return nil
}

// Read returns up to limit updates after afterSeq. See hub.Store.
func (s *Store) Read(ctx context.Context, afterSeq uint64, limit int) ([]*hub.Update, error) {
	var out []*hub.Update
	cut := s.cutoff()
	err := s.view(fmt.Sprintf("read after %d", afterSeq), func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUpdates).Cursor()
		for k, v := c.Seek(key(afterSeq + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			if expired(v, cut) {
				continue
			}
			u, err := decode(k, v)
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		return nil
	})
	return out, err
}

// Last returns the newest update, or nil. See hub.Store.
func (s *Store) Last(ctx context.Context) (*hub.Update, error) {
	var u *hub.Update
	cut := s.cutoff()
	err := s.view("last", func(tx *bolt.Tx) error {
		k, v := tx.Bucket(bucketUpdates).Cursor().Last()
		if k == nil || expired(v, cut) {
			return nil
		}
		var err error
		u, err = decode(k, v)
		return err
	})
	return u, err
}

// Follow delivers every update after afterSeq to fn. See hub.Store.
func (s *Store) Follow(ctx context.Context, afterSeq uint64, fn func(*hub.Update) error) error {
	cursor := afterSeq
	for {
		s.mu.Lock()
		wait, closed := s.notify, s.closed
		s.mu.Unlock()
		if closed {
			return fmt.Errorf("boltstore: follow: %w", hub.ErrClosed)
		}
		batch, err := s.Read(ctx, cursor, 256)
		if err != nil {
			return err
		}
		for _, u := range batch {
			if err := fn(u); err != nil {
				return err
			}
			cursor = u.Seq
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wait:
		}
	}
}

// Health reports whether the file is open.
func (s *Store) Health(ctx context.Context) error {
	if s.isClosed() {
		return fmt.Errorf("boltstore: %s: %w", s.path, hub.ErrClosed)
	}
	return nil
}

// Close closes the file and makes Follow return. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.notify)
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close %s: %w", s.path, err)
	}
	return nil
}
