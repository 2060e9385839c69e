package memory

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ssehub/ssehub/durable"
)

// DefaultSweep is how often Streams removes expired streams when
// StreamsOptions.Sweep is 0. Expiry holds between sweeps too: an expired
// stream answers as absent the moment it is touched.
const DefaultSweep = time.Second

// StreamsOptions configures Streams.
type StreamsOptions struct {
	// Sweep is the interval of the expiry sweep; 0 means DefaultSweep.
	Sweep time.Duration
}

// Streams is the in-memory durable.Store: one mutex, a map of stream
// metadata, and each stream's records in a slice ordered by position, so
// that a read is a binary search within one stream. Its streams are lost
// when the process exits. It is safe for concurrent use.
type Streams struct {
	mu       sync.Mutex
	metas    map[string]*durable.Meta
	records  map[uint64][]durable.Record
	expiring map[string]struct{} // names with a TTL or Expires-At, for the sweep
	waiters  map[string]chan struct{}
	lastID   uint64
	closed   bool
	done     chan struct{}
	swept    sync.WaitGroup
}

var _ durable.Store = (*Streams)(nil)

// NewStreams returns an empty Streams and starts its expiry sweep; Close
// stops it.
func NewStreams(opts StreamsOptions) *Streams {
	s := &Streams{metas: map[string]*durable.Meta{}, records: map[uint64][]durable.Record{},
		expiring: map[string]struct{}{}, waiters: map[string]chan struct{}{}, done: make(chan struct{})}
	every := opts.Sweep
	if every <= 0 {
		every = DefaultSweep
	}
	s.swept.Add(1)
	go s.sweep(every)
	return s
}

func (s *Streams) sweep(every time.Duration) {
	defer s.swept.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			s.mu.Lock()
			for name := range s.expiring {
				if m := s.metas[name]; m == nil || m.Deleted || (m.TTL == 0 && m.ExpiresAt.IsZero()) {
					delete(s.expiring, name)
				} else if m.Expired(now) {
					_ = durable.ExpireIn(memTxn{s}, name, now) // a memory Txn does not fail
					s.notify(name)
				}
			}
			s.mu.Unlock()
		}
	}
}

// do runs fn under the lock and wakes name's waiters when fn wrote.
func (s *Streams) do(name string, write bool, fn func(memTxn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return durable.ErrStoreClosed
	}
	err := fn(memTxn{s})
	if write {
		s.notify(name)
	}
	return err
}

func (s *Streams) notify(name string) {
	if ch, ok := s.waiters[name]; ok {
		close(ch)
		delete(s.waiters, name)
	}
}

// Create implements durable.Store.
func (s *Streams) Create(ctx context.Context, name string, req durable.CreateRequest) (res durable.CreateResult, err error) {
	if err := ctx.Err(); err != nil {
		return res, err
	}
	err = s.do(name, true, func(tx memTxn) error {
		res, err = durable.CreateIn(tx, name, req)
		return err
	})
	return res, err
}

// Append implements durable.Store.
func (s *Streams) Append(ctx context.Context, name string, req durable.AppendRequest) (res durable.AppendResult, err error) {
	if err := ctx.Err(); err != nil {
		return res, err
	}
	err = s.do(name, true, func(tx memTxn) error {
		res, err = durable.AppendIn(tx, name, req)
		return err
	})
	return res, err
}

// Read implements durable.Store.
func (s *Streams) Read(ctx context.Context, name string, req durable.ReadRequest) (res durable.ReadResult, err error) {
	if err := ctx.Err(); err != nil {
		return res, err
	}
	err = s.do(name, false, func(tx memTxn) error {
		res, err = durable.ReadIn(tx, name, req)
		return err
	})
	return res, err
}

// Stat implements durable.Store.
func (s *Streams) Stat(ctx context.Context, name string) (info durable.Info, err error) {
	if err := ctx.Err(); err != nil {
		return info, err
	}
	err = s.do(name, false, func(tx memTxn) error {
		info, err = durable.StatIn(tx, name, time.Time{})
		return err
	})
	return info, err
}

// Delete implements durable.Store.
func (s *Streams) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.do(name, true, func(tx memTxn) error { return durable.DeleteIn(tx, name, time.Time{}) })
}

// Wait implements durable.Store.
func (s *Streams) Wait(ctx context.Context, name string, id, pos uint64) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return durable.ErrStoreClosed
	}
	if m := s.metas[name]; m == nil || m.ID != id || m.Tail > pos || m.Closed || m.Deleted {
		s.mu.Unlock()
		return nil
	}
	ch, ok := s.waiters[name]
	if !ok {
		ch = make(chan struct{})
		s.waiters[name] = ch
	}
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return durable.ErrStoreClosed
	}
}

// Close implements durable.Store.
func (s *Streams) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	s.mu.Unlock()
	s.swept.Wait()
	return nil
}

// memTxn is the durable.Txn of Streams, used under its lock. Metadata is
// copied in and out so that a rule failing half-way changes nothing.
type memTxn struct{ s *Streams }

func (t memTxn) Meta(name string) (*durable.Meta, error) {
	m, ok := t.s.metas[name]
	if !ok {
		return nil, nil
	}
	c := *m
	c.Producers = maps.Clone(m.Producers)
	return &c, nil
}

// StreamCount implements durable.StreamCounter.
func (t memTxn) StreamCount() (int, error) { return len(t.s.metas), nil }

func (t memTxn) PutMeta(name string, m *durable.Meta) error {
	t.s.metas[name] = m
	if m.TTL > 0 || !m.ExpiresAt.IsZero() {
		t.s.expiring[name] = struct{}{}
	}
	return nil
}

func (t memTxn) DeleteMeta(name string) error {
	delete(t.s.metas, name)
	delete(t.s.expiring, name)
	return nil
}

func (t memTxn) Records(id, from uint64, maxBytes int) ([]durable.Record, error) {
	recs := t.s.records[id]
	// The first record ending past from.
	i, _ := slices.BinarySearchFunc(recs, from, func(r durable.Record, pos uint64) int {
		if r.Pos+r.Units <= pos {
			return -1
		}
		return 1
	})
	var out []durable.Record
	used := 0
	for ; i < len(recs) && (len(out) == 0 || used < maxBytes); i++ {
		out = append(out, recs[i])
		used += len(recs[i].Data)
	}
	return out, nil
}

func (t memTxn) AddRecord(id uint64, r durable.Record) error {
	r.Data = slices.Clone(r.Data)
	t.s.records[id] = append(t.s.records[id], r)
	return nil
}

func (t memTxn) DropRecords(id uint64) error {
	delete(t.s.records, id)
	return nil
}

func (t memTxn) NewID() (uint64, error) {
	t.s.lastID++
	return t.s.lastID, nil
}
