package natsstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/idempotency"
)

var _ idempotency.Store = (*Store)(nil)

// bucketName matches the names JetStream accepts for a KV bucket.
var bucketName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// claimAttempts bounds ClaimKey's compare-and-set retries against other
// nodes racing for the same expired or deleted key.
const claimAttempts = 5

// keys returns the KV bucket of the Idempotency-Key records, created on
// first use: "<stream>_IDEMPOTENCY", file storage, one revision per key,
// every record dropped by the server after idempotency.MaxKeep (records
// carry their own, shorter, expiry).
func (s *Store) keys(ctx context.Context) (jetstream.KeyValue, error) {
	s.kvMu.Lock()
	defer s.kvMu.Unlock()
	if s.kv != nil {
		return s.kv, nil
	}
	name := s.name + "_IDEMPOTENCY"
	if !bucketName.MatchString(name) {
		h := sha256.Sum256([]byte(s.name))
		name = "SSEHUB_IDEMPOTENCY_" + hex.EncodeToString(h[:8])
	}
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, History: 1,
		TTL: idempotency.MaxKeep, Storage: jetstream.FileStorage, Replicas: s.replicas})
	if err != nil {
		return nil, err
	}
	s.kv = kv
	return kv, nil
}

// kvKey is the KV key of an idempotency key: hashed, since KV keys allow
// few characters, with the hub's name so that hubs sharing a stream keep
// their keys apart.
func (s *Store) kvKey(key string) string {
	h := sha256.Sum256([]byte(s.prefix + "\x00" + key))
	return hex.EncodeToString(h[:])
}

// ClaimKey claims an idempotency key with the KV's Create (atomic across
// nodes), or with a compare-and-set Update over an expired record. See
// idempotency.Store.
func (s *Store) ClaimKey(ctx context.Context, key string, rec idempotency.Record) (*idempotency.Record, error) {
	what := fmt.Sprintf("claim idempotency key %q", key)
	kv, err := s.keys(ctx)
	if err != nil {
		return nil, s.fail(ctx, what, err)
	}
	b, err := rec.Marshal()
	if err != nil {
		return nil, fmt.Errorf("natsstore: %s: %w", what, err)
	}
	k := s.kvKey(key)
	for range claimAttempts {
		_, err := kv.Create(ctx, k, b)
		if err == nil {
			return nil, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, s.fail(ctx, what, err)
		}
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted meanwhile: create again
		}
		if err != nil {
			return nil, s.fail(ctx, what, err)
		}
		held, err := idempotency.Unmarshal(e.Value())
		if err != nil {
			return nil, fmt.Errorf("natsstore: %s: %w", what, err)
		}
		if held.Live(time.Now()) {
			return held, nil
		}
		if _, err := kv.Update(ctx, k, b, e.Revision()); err == nil {
			return nil, nil
		}
		// Another node took the expired key first: read what it holds.
	}
	return nil, fmt.Errorf("natsstore: %s: still contended after %d attempts: %w", what, claimAttempts, errContended)
}

// errContended is wrapped when ClaimKey keeps losing races it cannot
// settle; the caller answers as for a key in use.
var errContended = errors.New("key contended")

// SetKey stores an idempotency record. See idempotency.Store.
func (s *Store) SetKey(ctx context.Context, key string, rec idempotency.Record) error {
	what := fmt.Sprintf("set idempotency key %q", key)
	kv, err := s.keys(ctx)
	if err != nil {
		return s.fail(ctx, what, err)
	}
	b, err := rec.Marshal()
	if err != nil {
		return fmt.Errorf("natsstore: %s: %w", what, err)
	}
	if _, err := kv.Put(ctx, s.kvKey(key), b); err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}

// DeleteKey forgets an idempotency key. See idempotency.Store.
func (s *Store) DeleteKey(ctx context.Context, key string) error {
	what := fmt.Sprintf("delete idempotency key %q", key)
	kv, err := s.keys(ctx)
	if err != nil {
		return s.fail(ctx, what, err)
	}
	if err := kv.Delete(ctx, s.kvKey(key)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return s.fail(ctx, what, err)
	}
	return nil
}
