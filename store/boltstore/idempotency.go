package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/idempotency"
)

var _ idempotency.Store = (*Store)(nil)

// Buckets of the idempotency records: "idempotency" maps a key to its
// record; "idempotency-until" holds one empty-valued entry per record, its
// Until (big-endian Unix nanoseconds) followed by its key, so that expired
// records are found oldest first and swept without a scan.
var (
	bucketKeys  = []byte("idempotency")
	bucketUntil = []byte("idempotency-until")
)

// sweepBatch bounds how many expired records one write sweeps.
const sweepBatch = 100

func untilKey(until time.Time, key string) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(key)), uint64(until.UnixNano())), key...)
}

// updateKeys runs fn in a write transaction on the idempotency buckets,
// after sweeping expired records.
func (s *Store) updateKeys(what string, fn func(keys, until *bolt.Bucket) error) error {
	if s.isClosed() {
		return fmt.Errorf("boltstore: %s: %w", what, hub.ErrClosed)
	}
	now := s.now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		keys, err := tx.CreateBucketIfNotExists(bucketKeys)
		if err != nil {
			return err
		}
		until, err := tx.CreateBucketIfNotExists(bucketUntil)
		if err != nil {
			return err
		}
		sweep(keys, until, now)
		return fn(keys, until)
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return fmt.Errorf("boltstore: %s: %w", what, hub.ErrClosed)
	}
	if err != nil {
		return fmt.Errorf("boltstore: %s in %s: %w", what, s.path, err)
	}
	return nil
}

// sweep deletes up to sweepBatch records expired at now.
func sweep(keys, until *bolt.Bucket, now time.Time) {
	limit := binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))
	c := until.Cursor()
	for i, k := 0, []byte(nil); i < sweepBatch; i++ {
		if k, _ = c.First(); k == nil || len(k) < 8 || bytes.Compare(k[:8], limit) >= 0 {
			return
		}
		key := k[8:]
		if v := keys.Get(key); v != nil {
			if r, err := idempotency.Unmarshal(v); err != nil || bytes.Equal(untilKey(r.Until, string(key)), k) {
				keys.Delete(key)
			}
		}
		c.Delete()
	}
}

// put stores rec under key, replacing its expiry entry.
func put(keys, until *bolt.Bucket, key string, rec idempotency.Record) error {
	if v := keys.Get([]byte(key)); v != nil {
		if old, err := idempotency.Unmarshal(v); err == nil {
			until.Delete(untilKey(old.Until, key))
		}
	}
	b, err := rec.Marshal()
	if err != nil {
		return err
	}
	if err := keys.Put([]byte(key), b); err != nil {
		return err
	}
	return until.Put(untilKey(rec.Until, key), nil)
}

// ClaimKey claims an idempotency key in one write transaction. See
// idempotency.Store.
func (s *Store) ClaimKey(ctx context.Context, key string, rec idempotency.Record) (*idempotency.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var held *idempotency.Record
	err := s.updateKeys(fmt.Sprintf("claim idempotency key %q", key), func(keys, until *bolt.Bucket) error {
		if v := keys.Get([]byte(key)); v != nil {
			r, err := idempotency.Unmarshal(v)
			if err == nil && r.Live(s.now()) {
				held = r
				return nil
			}
		}
		return put(keys, until, key, rec)
	})
	return held, err
}

// SetKey stores an idempotency record. See idempotency.Store.
func (s *Store) SetKey(ctx context.Context, key string, rec idempotency.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.updateKeys(fmt.Sprintf("set idempotency key %q", key), func(keys, until *bolt.Bucket) error {
		return put(keys, until, key, rec)
	})
}

// DeleteKey forgets an idempotency key. See idempotency.Store.
func (s *Store) DeleteKey(ctx context.Context, key string) error {
	return s.updateKeys(fmt.Sprintf("delete idempotency key %q", key), func(keys, until *bolt.Bucket) error {
		if v := keys.Get([]byte(key)); v != nil {
			if old, err := idempotency.Unmarshal(v); err == nil {
				until.Delete(untilKey(old.Until, key))
			}
		}
		return keys.Delete([]byte(key))
	})
}
