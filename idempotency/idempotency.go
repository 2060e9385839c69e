// Package idempotency keeps the records behind the Idempotency-Key request
// header (draft-ietf-httpapi-idempotency-key-header): which key a request
// claimed, with which fingerprint of its content, and once it is done, the
// answer to give again to a retry. The HTTP side (parsing the header,
// fingerprinting, the 409 and 422 answers) is the protocol layer's; this
// package defines what a backend must store so that keys work across every
// node sharing it.
//
// Each store backend (store/memory, store/boltstore, store/redisstore,
// store/natsstore) implements Store next to its hub.Store, in the same
// file, database, Redis or NATS server, so that one -store URL gives both.
package idempotency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxKeep bounds how long a record may be kept. Backends whose expiry is
// set once per bucket (NATS KV) use it as that bucket's limit.
const MaxKeep = 7 * 24 * time.Hour

// ErrInvalidRecord is wrapped by the errors of a record that cannot be
// stored or read back.
var ErrInvalidRecord = errors.New("idempotency: invalid record")

// Record is what one key holds.
type Record struct {
	// Fingerprint identifies the content of the request that claimed the
	// key: a retry carries the same, another request another.
	Fingerprint string `json:"f"`
	// Done is set once the request has an answer; until then the key is
	// claimed by a request in flight.
	Done bool `json:"d,omitempty"`
	// Status and Body are the answer given to the request, given again to
	// its retries.
	Status int    `json:"s,omitempty"`
	Body   string `json:"b,omitempty"`
	// Until is when the record expires: an expired record is as good as
	// absent, and backends delete it in their own time.
	Until time.Time `json:"u"`
}

// Live reports whether r has not expired at now.
func (r *Record) Live(now time.Time) bool { return now.Before(r.Until) }

// Marshal encodes r for backends that store bytes.
func (r *Record) Marshal() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	return b, nil
}

// Unmarshal decodes what Marshal encoded.
func Unmarshal(b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	return &r, nil
}

// Store keeps idempotency records.
//
// Contract (checked by idempotencytest.TestStore):
//
//   - Every method is safe for concurrent use, by any number of goroutines
//     and of nodes sharing the backend.
//   - ClaimKey is atomic: of concurrent claims of a key holding no live
//     record, exactly one succeeds, on every node.
//   - Keys are any strings; backends hash or encode them as they need.
//   - Blocking: methods block only for I/O and honour ctx. Errors of an
//     unreachable backend wrap hub.ErrUnavailable, as the hub.Store's do.
type Store interface {
	// ClaimKey stores rec under key unless key holds a live record, which
	// it then returns, storing nothing. A nil record and nil error mean
	// that rec was stored: the caller holds the key.
	ClaimKey(ctx context.Context, key string, rec Record) (*Record, error)
	// SetKey stores rec under key, replacing what it holds. Only the
	// holder of a key sets it (to record the answer).
	SetKey(ctx context.Context, key string, rec Record) error
	// DeleteKey forgets key, so that it can be claimed again (the holder's
	// request failed in a way a retry may fix).
	DeleteKey(ctx context.Context, key string) error
}
