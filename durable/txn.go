package durable

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Txn is one atomic section of a backend, the seam through which stores
// share the protocol's rules: a backend that can read and write stream
// metadata and records atomically (a mutex, a bbolt transaction, a Redis
// WATCH/MULTI, …) implements Txn and runs CreateIn, AppendIn, ReadIn,
// StatIn and DeleteIn inside it, so that producer state, closure and data
// are decided and written in one step and every backend decides alike.
// Records are keyed by the stream's ID, not its name, so a re-created name
// never sees its predecessor's data.
type Txn interface {
	// Meta returns name's metadata, nil when there is none.
	Meta(name string) (*Meta, error)
	// PutMeta stores name's metadata.
	PutMeta(name string, m *Meta) error
	// DeleteMeta removes name's metadata.
	DeleteMeta(name string) error
	// Records returns, in order, the records of stream id that end past
	// position from: the one containing from first, then the next ones
	// until their data reaches maxBytes (at least one, when any exists).
	Records(id, from uint64, maxBytes int) ([]Record, error)
	// AddRecord stores r as stream id's record at r.Pos.
	AddRecord(id uint64, r Record) error
	// DropRecords removes every record of stream id.
	DropRecords(id uint64) error
	// NewID returns an ID no stream of this store has had.
	NewID() (uint64, error)
}

// StreamCounter is a Txn that counts the streams its store holds
// (soft-deleted ones included, since they still hold data), exactly and
// inside the transaction, so that CreateIn can enforce
// CreateRequest.MaxStreams. A Txn without it creates without a limit.
type StreamCounter interface {
	StreamCount() (int, error)
}

// Meta is the stored state of one stream, encoded by backends as JSON.
type Meta struct {
	// ID is this incarnation's identity (Info.ID).
	ID uint64 `json:"id"`
	// Requested is the creation configuration as asked, compared by an
	// idempotent re-create; TTL and ExpiresAt are the effective expiry
	// (a fork inherits its source's when it asks for none).
	Requested StreamConfig  `json:"req"`
	TTL       time.Duration `json:"ttl,omitempty"`
	ExpiresAt time.Time     `json:"exp,omitzero"`
	// ContentType is the effective content type.
	ContentType string `json:"ct"`
	Tail        uint64 `json:"tail"`
	Closed      bool   `json:"closed,omitempty"`
	// ClosedBy is the producer request that closed the stream, so that its
	// retry is answered as a duplicate.
	ClosedBy *Producer `json:"closedBy,omitempty"`
	// LastSeq is the last Stream-Seq accepted.
	LastSeq string `json:"seq,omitempty"`
	// Producers holds each idempotent producer's epoch and last sequence.
	Producers map[string]ProducerState `json:"producers,omitempty"`
	// Accessed is the last read or write, the start of a TTL's window.
	Accessed time.Time `json:"at"`
	// Source, SourceID and ForkAt locate a fork's inherited data:
	// positions below ForkAt are read from stream Source (incarnation
	// SourceID).
	Source   string `json:"src,omitempty"`
	SourceID uint64 `json:"srcId,omitempty"`
	ForkAt   uint64 `json:"forkAt,omitempty"`
	// Forks counts the forks reading this stream's data.
	Forks int `json:"forks,omitempty"`
	// Deleted marks a soft-deleted stream, kept for its forks.
	Deleted bool `json:"deleted,omitempty"`
}

// ProducerState is an idempotent producer's state on one stream.
type ProducerState struct {
	Epoch uint64 `json:"e"`
	Seq   uint64 `json:"s"`
}

// Expiry is when m expires unless touched again; zero: never.
func (m *Meta) Expiry() time.Time {
	var t time.Time
	if m.TTL > 0 {
		t = m.Accessed.Add(m.TTL)
	}
	if !m.ExpiresAt.IsZero() && (t.IsZero() || m.ExpiresAt.Before(t)) {
		t = m.ExpiresAt
	}
	return t
}

// Expired says whether m has expired at now.
func (m *Meta) Expired(now time.Time) bool {
	e := m.Expiry()
	return !e.IsZero() && !now.Before(e)
}

// Info is m's public metadata.
func (m *Meta) Info() Info {
	cfg := m.Requested
	cfg.ContentType = m.ContentType
	cfg.TTL = m.TTL
	cfg.ExpiresAt = m.ExpiresAt
	return Info{ID: m.ID, StreamConfig: cfg, Tail: m.Tail, Closed: m.Closed, Expiry: m.Expiry()}
}

// IsJSON says whether contentType is the JSON mode's (§9.1).
func IsJSON(contentType string) bool { return contentType == "application/json" }

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// load returns name's live metadata, applying expiry: an expired stream is
// removed (or soft-deleted while forks read it) on the spot, so expiry
// holds whether or not a sweep ran.
func load(tx Txn, name string, now time.Time) (*Meta, error) {
	m, err := tx.Meta(name)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, ErrNotFound
	}
	if m.Deleted {
		return nil, ErrGone
	}
	if m.Expired(now) {
		if err := remove(tx, name, m); err != nil {
			return nil, err
		}
		if m.Forks > 0 {
			return nil, ErrGone
		}
		return nil, ErrNotFound
	}
	return m, nil
}

// remove deletes m, or soft-deletes it while forks read it, and releases
// its own source: the garbage collection of fork chains cascades.
func remove(tx Txn, name string, m *Meta) error {
	if m.Forks > 0 {
		m.Deleted = true
		return tx.PutMeta(name, m)
	}
	if err := tx.DropRecords(m.ID); err != nil {
		return err
	}
	if err := tx.DeleteMeta(name); err != nil {
		return err
	}
	if m.Source == "" {
		return nil
	}
	src, err := tx.Meta(m.Source)
	if err != nil || src == nil || src.ID != m.SourceID {
		return err
	}
	src.Forks--
	if src.Forks <= 0 && src.Deleted {
		src.Forks = 0
		return remove(tx, m.Source, src)
	}
	return tx.PutMeta(m.Source, src)
}

// ExpireIn removes name when it has expired at now, for backends' sweeps.
func ExpireIn(tx Txn, name string, now time.Time) error {
	m, err := tx.Meta(name)
	if err != nil || m == nil || m.Deleted || !m.Expired(now) {
		return err
	}
	return remove(tx, name, m)
}

func sameConfig(a, b StreamConfig) bool {
	return a.ContentType == b.ContentType && a.TTL == b.TTL && a.ExpiresAt.Equal(b.ExpiresAt) &&
		a.ForkedFrom == b.ForkedFrom && a.ForkOffset == b.ForkOffset && a.HasForkOffset == b.HasForkOffset &&
		a.ForkSubOffset == b.ForkSubOffset
}

// CreateIn is Store.Create's rules inside a backend's Txn.
func CreateIn(tx Txn, name string, req CreateRequest) (CreateResult, error) {
	now := orNow(req.Now)
	old, err := tx.Meta(name)
	if err != nil {
		return CreateResult{}, err
	}
	if old != nil {
		if old.Deleted {
			return CreateResult{}, fmt.Errorf("%w: %s is deleted but still read by forks", ErrConflict, name)
		}
		if old.Expired(now) {
			if err := remove(tx, name, old); err != nil {
				return CreateResult{}, err
			}
			if old.Forks > 0 {
				return CreateResult{}, fmt.Errorf("%w: %s expired but is still read by forks", ErrConflict, name)
			}
		} else {
			cfg := req.StreamConfig
			if cfg.ForkedFrom != "" && !cfg.ContentTypeGiven {
				cfg.ContentType = old.Requested.ContentType
			}
			if !sameConfig(old.Requested, cfg) || old.Closed != req.Closed {
				return CreateResult{}, fmt.Errorf("%w: %s", ErrConflict, name)
			}
			return CreateResult{Info: old.Info()}, nil
		}
	}
	if c, ok := tx.(StreamCounter); ok && req.MaxStreams > 0 {
		n, err := c.StreamCount()
		if err != nil {
			return CreateResult{}, err
		}
		if n >= req.MaxStreams {
			return CreateResult{}, fmt.Errorf("%w: the store holds %d streams, its limit", ErrTooMany, n)
		}
	}
	id, err := tx.NewID()
	if err != nil {
		return CreateResult{}, err
	}
	m := &Meta{ID: id, Requested: req.StreamConfig, TTL: req.TTL, ExpiresAt: req.ExpiresAt,
		ContentType: req.ContentType, Accessed: now, Closed: req.Closed}
	if req.ForkedFrom != "" {
		if err := fork(tx, m, req, now); err != nil {
			return CreateResult{}, err
		}
	}
	if len(req.Data) > 0 {
		if err := tx.AddRecord(id, Record{Pos: m.Tail, Units: req.Units, Data: req.Data}); err != nil {
			return CreateResult{}, err
		}
		m.Tail += req.Units
	}
	if err := tx.PutMeta(name, m); err != nil {
		return CreateResult{}, err
	}
	return CreateResult{Info: m.Info(), Created: true}, nil
}

// fork links m to its source (§4.2): content type and expiry inherited,
// the sub-offset's slice of the record at the fork offset copied into the
// fork's own first record, and the source's reference count raised.
func fork(tx Txn, m *Meta, req CreateRequest, now time.Time) error {
	src, err := load(tx, req.ForkedFrom, now)
	switch {
	case errors.Is(err, ErrGone):
		return fmt.Errorf("%w: fork source %s is deleted", ErrConflict, req.ForkedFrom)
	case err != nil:
		return err
	}
	if !req.ContentTypeGiven {
		m.ContentType = src.ContentType
		m.Requested.ContentType = src.ContentType
	} else if req.ContentType != src.ContentType {
		return fmt.Errorf("%w: fork content type %s, source's %s", ErrConflict, req.ContentType, src.ContentType)
	}
	if req.TTL == 0 && req.ExpiresAt.IsZero() {
		m.TTL, m.ExpiresAt = src.TTL, src.ExpiresAt
	}
	at := src.Tail
	if req.HasForkOffset {
		if req.ForkOffset > src.Tail {
			return fmt.Errorf("%w: fork offset %d is past the source's tail %d", ErrBadFork, req.ForkOffset, src.Tail)
		}
		at = req.ForkOffset
	}
	m.Source, m.SourceID, m.ForkAt, m.Tail = req.ForkedFrom, src.ID, at, at
	if req.ForkSubOffset > 0 {
		recs, err := readChain(tx, src, at, math.MaxUint64, 1)
		if err != nil {
			return err
		}
		if len(recs) == 0 || recs[0].Units < req.ForkSubOffset {
			return fmt.Errorf("%w: sub-offset %d overshoots the record at the fork offset", ErrBadFork, req.ForkSubOffset)
		}
		prefix, err := cut(recs[0], at, at+req.ForkSubOffset, IsJSON(src.ContentType))
		if err != nil {
			return err
		}
		if err := tx.AddRecord(m.ID, prefix); err != nil {
			return err
		}
		m.Tail += req.ForkSubOffset
	}
	src.Forks++
	return tx.PutMeta(req.ForkedFrom, src)
}

// AppendIn is Store.Append's rules inside a backend's Txn, in the order
// §5.2 gives: producer fencing, then closure, content type, Stream-Seq,
// producer sequence.
func AppendIn(tx Txn, name string, req AppendRequest) (AppendResult, error) {
	now := orNow(req.Now)
	m, err := load(tx, name, now)
	if err != nil {
		return AppendResult{}, err
	}
	var st ProducerState
	known := false
	if p := req.Producer; p != nil {
		st, known = m.Producers[p.ID]
		if known && p.Epoch < st.Epoch {
			return AppendResult{}, &ProducerError{Err: ErrStaleEpoch, Epoch: st.Epoch}
		}
	}
	if m.Closed {
		if p := req.Producer; p != nil && m.ClosedBy != nil && *m.ClosedBy == *p {
			return AppendResult{Tail: m.Tail, Closed: true, Duplicate: true, ProducerEpoch: p.Epoch, ProducerSeq: st.Seq}, nil
		}
		if req.Close && len(req.Data) == 0 && req.Producer == nil {
			return AppendResult{Tail: m.Tail, Closed: true}, nil
		}
		return AppendResult{}, &ClosedError{Tail: m.Tail}
	}
	if len(req.Data) > 0 && req.ContentType != m.ContentType {
		return AppendResult{}, fmt.Errorf("%w: %s, stream has %s", ErrContentType, req.ContentType, m.ContentType)
	}
	if p := req.Producer; p != nil {
		switch {
		case known && p.Epoch == st.Epoch && p.Seq <= st.Seq:
			return AppendResult{Tail: m.Tail, Duplicate: true, ProducerEpoch: p.Epoch, ProducerSeq: st.Seq}, nil
		case known && p.Epoch == st.Epoch && p.Seq > st.Seq+1:
			return AppendResult{}, &ProducerError{Err: ErrProducerGap, Epoch: st.Epoch, Expected: st.Seq + 1, Received: p.Seq}
		case (!known || p.Epoch > st.Epoch) && p.Seq != 0:
			if !known {
				return AppendResult{}, &ProducerError{Err: ErrProducerGap, Expected: 0, Received: p.Seq}
			}
			return AppendResult{}, fmt.Errorf("%w: epoch %d, sequence %d", ErrProducerEpochSeq, p.Epoch, p.Seq)
		}
	}
	if req.Seq != "" {
		if m.LastSeq != "" && req.Seq <= m.LastSeq {
			return AppendResult{}, fmt.Errorf("%w: %q after %q", ErrSeq, req.Seq, m.LastSeq)
		}
		m.LastSeq = req.Seq
	}
	if len(req.Data) > 0 {
		if err := tx.AddRecord(m.ID, Record{Pos: m.Tail, Units: req.Units, Data: req.Data}); err != nil {
			return AppendResult{}, err
		}
		m.Tail += req.Units
	}
	res := AppendResult{Tail: m.Tail}
	if p := req.Producer; p != nil {
		if m.Producers == nil {
			m.Producers = map[string]ProducerState{}
		}
		m.Producers[p.ID] = ProducerState{Epoch: p.Epoch, Seq: p.Seq}
		res.ProducerEpoch, res.ProducerSeq = p.Epoch, p.Seq
	}
	if req.Close {
		m.Closed = true
		if p := req.Producer; p != nil {
			cp := *p
			m.ClosedBy = &cp
		}
	}
	res.Closed = m.Closed
	m.Accessed = now
	return res, tx.PutMeta(name, m)
}

// ReadIn is Store.Read's rules inside a backend's Txn. It refreshes a
// sliding TTL, so backends run it in a writing section when the stream has
// one (Touches says so).
func ReadIn(tx Txn, name string, req ReadRequest) (ReadResult, error) {
	now := orNow(req.Now)
	m, err := load(tx, name, now)
	if err != nil {
		return ReadResult{}, err
	}
	if req.From > m.Tail {
		return ReadResult{}, fmt.Errorf("%w: offset %d is past the tail %d", ErrBadOffset, req.From, m.Tail)
	}
	recs, err := readChain(tx, m, req.From, m.Tail, max(req.MaxBytes, 1))
	if err != nil {
		return ReadResult{}, err
	}
	next := req.From
	if n := len(recs); n > 0 {
		next = recs[n-1].Pos + recs[n-1].Units
	}
	if m.TTL > 0 {
		m.Accessed = now
		if err := tx.PutMeta(name, m); err != nil {
			return ReadResult{}, err
		}
	}
	return ReadResult{Info: m.Info(), Records: recs, Next: next}, nil
}

// StatIn is Store.Stat's rules inside a backend's Txn.
func StatIn(tx Txn, name string, now time.Time) (Info, error) {
	m, err := load(tx, name, orNow(now))
	if err != nil {
		return Info{}, err
	}
	return m.Info(), nil
}

// DeleteIn is Store.Delete's rules inside a backend's Txn.
func DeleteIn(tx Txn, name string, now time.Time) error {
	m, err := load(tx, name, orNow(now))
	if err != nil {
		return err
	}
	return remove(tx, name, m)
}

// readChain reads m's records from position from, below limit: the
// inherited ones from its source chain first, then its own.
func readChain(tx Txn, m *Meta, from, limit uint64, maxBytes int) ([]Record, error) {
	var out []Record
	used := 0
	if m.Source != "" && from < m.ForkAt {
		src, err := tx.Meta(m.Source)
		if err != nil {
			return nil, err
		}
		if src == nil || src.ID != m.SourceID {
			return nil, fmt.Errorf("durable: fork source %s of a live fork is missing", m.Source)
		}
		out, err = readChain(tx, src, from, min(limit, m.ForkAt), maxBytes)
		if err != nil {
			return nil, err
		}
		for _, r := range out {
			used += len(r.Data)
			from = r.Pos + r.Units
		}
		if from < m.ForkAt || used >= maxBytes {
			return out, nil
		}
	}
	if from >= limit {
		return out, nil
	}
	own, err := tx.Records(m.ID, from, maxBytes-used)
	if err != nil {
		return nil, err
	}
	json := IsJSON(m.ContentType)
	for _, r := range own {
		if r.Pos >= limit {
			break
		}
		if len(out) > 0 && used+len(r.Data) > maxBytes {
			break
		}
		if r.Pos < from || r.Pos+r.Units > limit {
			if r, err = cut(r, max(r.Pos, from), min(r.Pos+r.Units, limit), json); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
		used += len(r.Data)
	}
	return out, nil
}

// cut returns the part of r between positions from and to: bytes, or
// whole JSON messages.
func cut(r Record, from, to uint64, json bool) (Record, error) {
	a, b := from-r.Pos, to-r.Pos
	if !json {
		return Record{Pos: from, Units: b - a, Data: r.Data[a:b]}, nil
	}
	msgs, err := SplitJSON(r.Data)
	if err != nil {
		return Record{}, fmt.Errorf("durable: record at %d: %w", r.Pos, err)
	}
	return Record{Pos: from, Units: b - a, Data: bytes.Join(msgs[a:b], []byte(","))}, nil
}

// SplitJSON splits a JSON record (messages joined by commas) into its
// messages.
func SplitJSON(data []byte) ([][]byte, error) {
	var msgs []json.RawMessage
	buf := make([]byte, 0, len(data)+2)
	buf = append(append(append(buf, '['), data...), ']')
	if err := json.Unmarshal(buf, &msgs); err != nil {
		return nil, fmt.Errorf("split JSON messages: %w", err)
	}
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = m
	}
	return out, nil
}
