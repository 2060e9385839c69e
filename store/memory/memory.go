// Package memory is the in-memory hub.Store: a bounded history of updates,
// trimmed by bytes, count and age, with an index from update ID to the Seqs
// of the updates carrying it. Its history is lost when the process exits.
// It also keeps the idempotency.Store records of Idempotency-Key, for one
// process.
package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/idempotency"
)

// Defaults of Options: history in memory is bounded by its bytes first.
const (
	DefaultMaxUpdates = 100_000
	DefaultMaxBytes   = 64 << 20
)

// Overhead is what the store counts for an update beyond its id, topics,
// data and type: the update's fields, the index entry, pointers.
const Overhead = 200

// Options configures a Store. The zero value keeps the newest updates
// within DefaultMaxBytes and DefaultMaxUpdates, whatever their age.
type Options struct {
	// MaxUpdates bounds history by count: 0 means DefaultMaxUpdates, a
	// negative value keeps no history at all (live delivery only: Read,
	// Lookup and Last see nothing).
	MaxUpdates int
	// MaxBytes bounds history by size: the updates' ids, topics, data and
	// type plus Overhead each. The newest update is kept even when it alone
	// is larger. 0 means DefaultMaxBytes; negative, no byte bound.
	MaxBytes int64
	// MaxAge drops updates older than this from history; 0 keeps them
	// whatever their age (within MaxUpdates).
	MaxAge time.Duration
	// Now is the clock used for MaxAge; nil means time.Now.
	Now func() time.Time
}

// Store is an in-memory hub.Store. It is safe for concurrent use.
type Store struct {
	max      int
	maxBytes int64
	maxAge   time.Duration
	now      func() time.Time

	mu     sync.RWMutex
	ups    []*hub.Update       // ups[i].Seq == first+i: contiguous
	first  uint64              // Seq of ups[0]
	seq    uint64              // last assigned Seq
	byID   map[string][]uint64 // id -> Seqs in history, oldest first (ids may repeat)
	bytes  int64               // size of ups
	notify chan struct{}       // closed and replaced on every Append and on Close
	closed bool

	kmu     sync.Mutex // guards keys and sweepAt, apart from history
	keys    map[string]idempotency.Record
	sweepAt int // size of keys at which expired records are swept
}

var (
	_ hub.Store         = (*Store)(nil)
	_ idempotency.Store = (*Store)(nil)
)

// New returns an empty Store.
func New(opts Options) *Store {
	s := &Store{max: opts.MaxUpdates, maxBytes: opts.MaxBytes, maxAge: opts.MaxAge, now: opts.Now,
		byID: map[string][]uint64{}, notify: make(chan struct{}), first: 1}
	if s.max == 0 {
		s.max = DefaultMaxUpdates
	}
	if s.maxBytes == 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Append stores a copy of u and sets u.Seq. See hub.Store.
func (s *Store) Append(ctx context.Context, u *hub.Update) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("memory store: append %q: %w", u.ID, hub.ErrClosed)
	}
	s.trimAge()
	s.seq++
	u.Seq = s.seq
	if u.Time.IsZero() {
		u.Time = s.now()
	}
	s.ups = append(s.ups, u.Clone())
	s.bytes += size(u)
	if s.max >= 0 {
		s.byID[u.ID] = append(s.byID[u.ID], u.Seq)
	}
	for len(s.ups) > s.limit() || s.maxBytes > 0 && s.bytes > s.maxBytes && len(s.ups) > 1 {
		s.drop()
	}
	close(s.notify)
	s.notify = make(chan struct{})
	return nil
}

// limit is how many updates are kept: MaxUpdates, or with no history a
// small buffer that only followers see.
func (s *Store) limit() int {
	if s.max < 0 {
		return followBuffer
	}
	return s.max
}

// followBuffer is what a store without history keeps for its followers.
const followBuffer = 1024

// size is what u counts against MaxBytes.
func size(u *hub.Update) int64 {
	n := len(u.ID) + len(u.Data) + len(u.Type) + Overhead
	for _, t := range u.Topics {
		n += len(t)
	}
	return int64(n)
}

// drop removes the oldest update; s.mu must be held.
func (s *Store) drop() {
	s.bytes -= size(s.ups[0])
	// The oldest update is the oldest occurrence of its id.
	id := s.ups[0].ID
	if seqs := s.byID[id]; len(seqs) > 1 {
		s.byID[id] = seqs[1:]
	} else {
		delete(s.byID, id)
	}
	s.ups[0] = nil
	s.ups = s.ups[1:]
	s.first++
	if cap(s.ups) > 2*s.limit()+64 && len(s.ups) < cap(s.ups)/2 { // give memory back
		s.ups = append(make([]*hub.Update, 0, len(s.ups)+s.limit()/2+1), s.ups...)
	}
}

// trimAge drops updates older than MaxAge; s.mu must be held.
func (s *Store) trimAge() {
	if s.maxAge <= 0 {
		return
	}
	limit := s.now().Add(-s.maxAge)
	for len(s.ups) > 0 && s.ups[0].Time.Before(limit) {
		s.drop()
	}
}

// Lookup returns the Seq of the earliest update with this ID. See
// hub.Store.
func (s *Store) Lookup(ctx context.Context, id string) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("memory store: lookup %q: %w", id, hub.ErrClosed)
	}
	s.trimAge()
	seqs := s.byID[id]
	if len(seqs) == 0 {
		return 0, fmt.Errorf("memory store: lookup %q: %w", id, hub.ErrUnknownID)
	}
	return seqs[0], nil
}

// Read returns up to limit updates after afterSeq. See hub.Store.
func (s *Store) Read(ctx context.Context, afterSeq uint64, limit int) ([]*hub.Update, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("memory store: read after %d: %w", afterSeq, hub.ErrClosed)
	}
	s.trimAge()
	if s.max < 0 {
		return nil, nil
	}
	return s.after(afterSeq, limit), nil
}

// after returns a copy of the slice of updates after seq; s.mu must be held.
func (s *Store) after(seq uint64, limit int) []*hub.Update {
	i := 0
	if seq >= s.first {
		i = int(seq - s.first + 1)
	}
	if i >= len(s.ups) || limit <= 0 {
		return nil
	}
	j := min(len(s.ups), i+limit)
	out := make([]*hub.Update, j-i)
	copy(out, s.ups[i:j])
	return out
}

// Last returns the newest update, or nil. See hub.Store.
func (s *Store) Last(ctx context.Context) (*hub.Update, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("memory store: last: %w", hub.ErrClosed)
	}
	s.trimAge()
	if len(s.ups) == 0 || s.max < 0 {
		return nil, nil
	}
	return s.ups[len(s.ups)-1], nil
}

// Follow delivers every update after afterSeq to fn. See hub.Store.
func (s *Store) Follow(ctx context.Context, afterSeq uint64, fn func(*hub.Update) error) error {
	cursor := afterSeq
	for {
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return fmt.Errorf("memory store: follow: %w", hub.ErrClosed)
		}
		batch := s.after(cursor, 256)
		wait := s.notify
		s.mu.RUnlock()
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

// Close empties the store and makes Follow return. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.ups, s.byID = nil, nil
		close(s.notify)
	}
	return nil
}

// ClaimKey claims an idempotency key. See idempotency.Store.
func (s *Store) ClaimKey(ctx context.Context, key string, rec idempotency.Record) (*idempotency.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.kmu.Lock()
	defer s.kmu.Unlock()
	now := s.now()
	if held, ok := s.keys[key]; ok && held.Live(now) {
		return &held, nil
	}
	s.setKey(key, rec, now)
	return nil, nil
}

// SetKey stores an idempotency record. See idempotency.Store.
func (s *Store) SetKey(ctx context.Context, key string, rec idempotency.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.kmu.Lock()
	defer s.kmu.Unlock()
	s.setKey(key, rec, s.now())
	return nil
}

// setKey stores rec, and sweeps the expired records whenever the map has
// doubled since the last sweep, so that memory follows the live keys at a
// constant cost per key; s.kmu must be held.
func (s *Store) setKey(key string, rec idempotency.Record, now time.Time) {
	if s.keys == nil {
		s.keys = map[string]idempotency.Record{}
	}
	s.keys[key] = rec
	if len(s.keys) < max(s.sweepAt, 1024) {
		return
	}
	for k, r := range s.keys {
		if !r.Live(now) {
			delete(s.keys, k)
		}
	}
	s.sweepAt = 2 * len(s.keys)
}

// DeleteKey forgets an idempotency key. See idempotency.Store.
func (s *Store) DeleteKey(ctx context.Context, key string) error {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	delete(s.keys, key)
	return nil
}
