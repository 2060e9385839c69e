package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/idempotency"
)

var _ idempotency.Store = (*Store)(nil)

// idemKey is the Redis key of an idempotency key: in the store's hash tag,
// so that a Redis Cluster keeps it with the history, and expired by Redis
// itself at the record's Until (PXAT).
func (s *Store) idemKey(key string) string { return s.prefix + ":idem:" + key }

// claimAttempts bounds ClaimKey's retries when a record expires between
// its SET NX and its GET.
const claimAttempts = 3

// ClaimKey claims an idempotency key with SET NX PXAT, atomic across every
// node. See idempotency.Store.
func (s *Store) ClaimKey(ctx context.Context, key string, rec idempotency.Record) (*idempotency.Record, error) {
	what := fmt.Sprintf("claim idempotency key %q", key)
	b, err := rec.Marshal()
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", what, err)
	}
	for range claimAttempts {
		ok, err := s.rdb.SetArgs(ctx, s.idemKey(key), b, redis.SetArgs{Mode: "NX", ExpireAt: rec.Until}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, s.fail(ctx, what, err)
		}
		if ok == "OK" {
			return nil, nil
		}
		raw, err := s.rdb.Get(ctx, s.idemKey(key)).Bytes()
		if errors.Is(err, redis.Nil) {
			continue // expired meanwhile: claim again
		}
		if err != nil {
			return nil, s.fail(ctx, what, err)
		}
		held, err := idempotency.Unmarshal(raw)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %s: %w", what, err)
		}
		return held, nil
	}
	return nil, fmt.Errorf("redisstore: %s: the key kept expiring between SET NX and GET", what)
}

// SetKey stores an idempotency record, expiring at its Until. See
// idempotency.Store.
func (s *Store) SetKey(ctx context.Context, key string, rec idempotency.Record) error {
	what := fmt.Sprintf("set idempotency key %q", key)
	b, err := rec.Marshal()
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", what, err)
	}
	if err := s.rdb.SetArgs(ctx, s.idemKey(key), b, redis.SetArgs{ExpireAt: rec.Until}).Err(); err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}

// DeleteKey forgets an idempotency key. See idempotency.Store.
func (s *Store) DeleteKey(ctx context.Context, key string) error {
	if err := s.rdb.Del(ctx, s.idemKey(key)).Err(); err != nil {
		return s.fail(ctx, fmt.Sprintf("delete idempotency key %q", key), err)
	}
	return nil
}
