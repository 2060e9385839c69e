package durable

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store keeps durable streams: many independent append-only logs, each
// with its own positions, content type, closure state, producer state,
// expiry and fork references. The protocol Server is written against it;
// store/memory, store/boltstore, store/redisstore and store/natsstore
// implement it, and durabletest.TestStore is the contract each one runs.
//
// Contract:
//   - Every method is safe for concurrent use. Operations on one stream are
//     linearizable: each Create, Append, Delete happens atomically (producer
//     state, Stream-Seq, closure and data in the same step) and reads see a
//     prefix of the appends in their total order.
//   - Append returns only once the data is durable to the store's standard
//     (memory: in memory; bolt: fsynced; Redis/NATS: acknowledged by the
//     server), so an acknowledged append is never lost or reordered.
//   - Reads touch only the named stream and the sources it is forked from,
//     never other streams; their cost does not grow with the number of
//     streams.
//   - Expiry is the store's job: a stream whose TTL or Expires-At has passed
//     answers ErrNotFound (or ErrGone while forks still read it) from every
//     method, whether or not a background sweep has removed it yet.
//   - Wait is the live-read primitive and the only method that blocks for
//     longer than a store round trip; every method returns early with the
//     context's error when ctx ends.
//   - Methods return the sentinel errors below (possibly wrapped, possibly
//     as *ProducerError or *ClosedError carrying detail), ErrUnavailable
//     when the backing service cannot be reached, or another error for a
//     store failure. After Close every method returns ErrStoreClosed.
//   - The caller owns Close; Close ends pending Waits.
type Store interface {
	// Create makes the stream name as req describes, or confirms that it
	// already exists with the same configuration (Created false). A
	// different configuration is ErrConflict; a soft-deleted name is
	// ErrConflict too, since it cannot be re-created while forks read it.
	Create(ctx context.Context, name string, req CreateRequest) (CreateResult, error)
	// Append adds req's data to name's end and/or closes it, applying the
	// Stream-Seq and idempotent-producer rules atomically with the write.
	Append(ctx context.Context, name string, req AppendRequest) (AppendResult, error)
	// Read returns records of name from position req.From: whole records
	// (one append each, its prefix when it straddles a fork boundary) up to
	// about req.MaxBytes, at least one when any exists. Reads refresh a
	// sliding TTL.
	Read(ctx context.Context, name string, req ReadRequest) (ReadResult, error)
	// Stat returns name's metadata without refreshing its TTL.
	Stat(ctx context.Context, name string) (Info, error)
	// Delete removes name. With forks reading it, it is soft-deleted: its
	// name answers ErrGone until the last fork goes, then it is removed.
	Delete(ctx context.Context, name string) error
	// Wait blocks until the stream name with identity id has data past
	// position pos, is closed, or is gone (deleted, expired, re-created:
	// then Wait returns nil and the next Read or Stat tells which). It
	// returns ctx.Err() when ctx ends first. Waiting does not hold
	// resources other than a registration, so thousands of readers may
	// wait on one stream; a distributed store wakes waiters on every node
	// when any node appends, closes or deletes.
	Wait(ctx context.Context, name string, id uint64, pos uint64) error
	// Close releases the store; pending Waits return ErrStoreClosed.
	Close() error
}

// Errors stores return; callers branch on them with errors.Is.
var (
	// ErrNotFound: no stream by that name (never created, deleted or expired).
	ErrNotFound = errors.New("durable: stream not found")
	// ErrGone: the stream was deleted or expired while forks still read its
	// data, or the offset asked for was dropped by retention.
	ErrGone = errors.New("durable: stream gone")
	// ErrConflict: the stream exists with another configuration, or the
	// name is soft-deleted, or a fork source is soft-deleted.
	ErrConflict = errors.New("durable: stream exists with another configuration")
	// ErrClosed: an append to a closed stream (a *ClosedError carries the
	// final position).
	ErrClosed = errors.New("durable: stream is closed")
	// ErrContentType: appended data has another content type than the stream.
	ErrContentType = errors.New("durable: content type does not match the stream's")
	// ErrSeq: a Stream-Seq that does not increase.
	ErrSeq = errors.New("durable: Stream-Seq does not increase")
	// ErrStaleEpoch: a producer epoch below the stream's (zombie fencing).
	ErrStaleEpoch = errors.New("durable: stale producer epoch")
	// ErrProducerGap: a producer sequence past the next expected one.
	ErrProducerGap = errors.New("durable: producer sequence gap")
	// ErrProducerEpochSeq: a new producer epoch that does not start at 0.
	ErrProducerEpochSeq = errors.New("durable: a new producer epoch must start at sequence 0")
	// ErrBadFork: a fork offset past the source's tail or a sub-offset
	// that overshoots the record at the offset.
	ErrBadFork = errors.New("durable: fork position outside the source")
	// ErrBadOffset: a read offset past the stream's tail.
	ErrBadOffset = errors.New("durable: offset past the stream's tail")
	// ErrTooMany: a create of a new stream when the store already holds
	// CreateRequest.MaxStreams streams.
	ErrTooMany = errors.New("durable: too many streams")
	// ErrTooLarge: one create or append carries more data than the store
	// can keep as one record (NATS: one message); a *TooLargeError says
	// how much it can.
	ErrTooLarge = errors.New("durable: append too large for the store")
	// ErrUnavailable: the backing service cannot be reached.
	ErrUnavailable = errors.New("durable: store unavailable")
	// ErrStoreClosed: the store was closed.
	ErrStoreClosed = errors.New("durable: store closed")
)

// ProducerError details a refused idempotent-producer append: it wraps
// ErrStaleEpoch (Epoch is the stream's current one) or ErrProducerGap
// (Expected and Received are the sequences).
type ProducerError struct {
	Err                       error
	Epoch, Expected, Received uint64
}

func (e *ProducerError) Error() string { return e.Err.Error() }
func (e *ProducerError) Unwrap() error { return e.Err }

// TooLargeError is a create or append refused because its data does not
// fit in one record of the store: Size is the data's length, Max the most
// the store takes.
type TooLargeError struct{ Size, Max int }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: %d bytes in one request, at most %d fit in one record of this store", ErrTooLarge, e.Size, e.Max)
}
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// ClosedError is an append refused because the stream is closed; Tail is
// its final position.
type ClosedError struct{ Tail uint64 }

func (e *ClosedError) Error() string { return ErrClosed.Error() }
func (e *ClosedError) Unwrap() error { return ErrClosed }

// StreamConfig is a stream's creation configuration, compared by idempotent
// re-creation.
type StreamConfig struct {
	// ContentType is the stream's normalised media type.
	ContentType string
	// TTL is a sliding time to live, whole seconds; 0: none.
	TTL time.Duration
	// ExpiresAt is an absolute expiry; zero: none.
	ExpiresAt time.Time
	// ForkedFrom names the source stream of a fork; empty: not a fork.
	ForkedFrom string
	// ForkOffset is the fork's divergence position in the source;
	// HasForkOffset says it was given (else the source's tail at creation).
	ForkOffset    uint64
	HasForkOffset bool
	// ForkSubOffset refines ForkOffset by units of the record found there.
	ForkSubOffset uint64
	// ContentTypeGiven says the creator named the content type (a fork
	// may omit it and inherit its source's).
	ContentTypeGiven bool
}

// CreateRequest asks for a stream.
type CreateRequest struct {
	StreamConfig
	// Data is the initial content in record form (see AppendRequest).
	Data  []byte
	Units uint64
	// Closed creates the stream closed, Data being all it will hold.
	Closed bool
	// Now is the request's time (tests pass a fixed clock); zero: time.Now.
	Now time.Time
	// MaxStreams, when positive, refuses (ErrTooMany) to create a new
	// stream in a store that holds that many already. Stores that cannot
	// count exactly (see StreamCounter) do not enforce it.
	MaxStreams int
}

// CreateResult answers Create.
type CreateResult struct {
	Info
	// Created is false when an identical stream already existed.
	Created bool
}

// Producer is an idempotent producer's triple from Producer-Id,
// Producer-Epoch and Producer-Seq.
type Producer struct {
	ID         string
	Epoch, Seq uint64
}

// AppendRequest asks to append and/or close.
type AppendRequest struct {
	// ContentType is the request's normalised media type, checked only
	// when Data is not empty.
	ContentType string
	// Data is one record: the bytes, or for JSON streams the flattened
	// messages joined by commas. Units is its length in positions: len(Data)
	// for bytes, the message count for JSON.
	Data  []byte
	Units uint64
	// Seq is the Stream-Seq header; empty: none.
	Seq string
	// Producer is the idempotent producer, nil when none.
	Producer *Producer
	// Close closes the stream after appending Data.
	Close bool
	// Now is the request's time; zero: time.Now.
	Now time.Time
}

// AppendResult answers Append.
type AppendResult struct {
	// Tail is the stream's position after the append.
	Tail uint64
	// Closed: the stream is closed now (by this request or before).
	Closed bool
	// Duplicate: an idempotent producer's retry, nothing was written.
	Duplicate bool
	// ProducerEpoch, ProducerSeq: the producer's accepted state.
	ProducerEpoch, ProducerSeq uint64
}

// ReadRequest asks for records from a position.
type ReadRequest struct {
	From     uint64
	MaxBytes int
	// Now is the request's time; zero: time.Now.
	Now time.Time
}

// ReadResult answers Read.
type ReadResult struct {
	Info
	// Records start at From, in order and contiguous.
	Records []Record
	// Next is the position after the last record (From when none).
	Next uint64
}

// Record is one append's data (or the part of it a read covers).
type Record struct {
	// Pos is the record's first position; Units its length in positions.
	Pos, Units uint64
	Data       []byte
}

// Info is the metadata of a stream.
type Info struct {
	// ID identifies this incarnation of the name: a stream re-created
	// after deletion gets another, so ETags and waits never mix them.
	ID uint64
	StreamConfig
	// Tail is the position after the last record.
	Tail   uint64
	Closed bool
	// Expiry is when the stream expires unless touched; zero: never.
	Expiry time.Time
}
