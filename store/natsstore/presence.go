package natsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub"
)

var _ hub.Presence = (*Store)(nil)

// NodesBucket is the JetStream key-value bucket where the nodes of this
// store's hub announce themselves (hub.Presence): one key per node, which
// the bucket's TTL expires. Its name is made of the stream's and the hub's,
// with every character a bucket name may not hold replaced by '_'.
func (s *Store) NodesBucket() string {
	hubName := strings.TrimSuffix(strings.TrimPrefix(s.prefix, s.name+"."), ".")
	clean := func(v string) string {
		return strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-' {
				return r
			}
			return '_'
		}, v)
	}
	return clean(s.name) + "_" + clean(hubName) + "_nodes"
}

// Announce records n for ttl, creating the bucket (or updating its TTL to
// ttl) if needed. See hub.Presence.
func (s *Store) Announce(ctx context.Context, n hub.Node, ttl time.Duration) error {
	what := fmt.Sprintf("announce node %q", n.ID)
	if ttl <= 0 {
		return fmt.Errorf("natsstore: %s: ttl %v is not positive", what, ttl)
	}
	b, err := json.Marshal(announcement{Node: n, Expires: time.Now().Add(ttl).UnixMilli()})
	if err != nil {
		return fmt.Errorf("natsstore: %s: %w", what, err)
	}
	kv, err := s.nodesBucket(ctx, ttl)
	if err != nil {
		return s.fail(ctx, what, err)
	}
	if _, err := kv.Put(ctx, nodeKey(n.ID), b); err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}

// announcement is a node as kept in the bucket. The bucket's TTL is one
// for all its keys (per-key TTLs need NATS 2.11), so each announcement
// carries its own expiry, and the bucket's TTL only bounds how long
// forgotten keys stay.
type announcement struct {
	hub.Node
	Expires int64 `json:"expires"` // Unix milliseconds
}

// minBucketTTL is the shortest TTL of the nodes bucket.
const minBucketTTL = time.Minute

// nodesBucket opens the nodes bucket, creating it, or lengthening its TTL
// so that an announcement for ttl outlives it.
func (s *Store) nodesBucket(ctx context.Context, ttl time.Duration) (jetstream.KeyValue, error) {
	cfg := jetstream.KeyValueConfig{Bucket: s.NodesBucket(), Description: "ssehub nodes of " + s.prefix,
		TTL: max(ttl, minBucketTTL), History: 1, Storage: jetstream.MemoryStorage}
	kv, err := s.js.KeyValue(ctx, cfg.Bucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		return s.js.CreateOrUpdateKeyValue(ctx, cfg)
	case err != nil:
		return nil, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, err
	}
	if st.TTL() < ttl {
		return s.js.CreateOrUpdateKeyValue(ctx, cfg)
	}
	return kv, nil
}

// nodeKey is the bucket key of a node id: the id in hex, since keys may
// hold fewer characters than ids.
func nodeKey(id string) string { return fmt.Sprintf("%x", id) }

// Nodes returns the nodes whose announcement has not expired. See
// hub.Presence.
func (s *Store) Nodes(ctx context.Context) ([]hub.Node, error) {
	kv, err := s.js.KeyValue(ctx, s.NodesBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil // nobody announced itself yet
	}
	if err != nil {
		return nil, s.fail(ctx, "open the nodes bucket", err)
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, s.fail(ctx, "list nodes", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	var nodes []hub.Node
	now := time.Now().UnixMilli()
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) { // expired since the listing
			continue
		}
		if err != nil {
			return nil, s.fail(ctx, "read node "+k, err)
		}
		var a announcement
		if err := json.Unmarshal(e.Value(), &a); err != nil {
			return nil, fmt.Errorf("natsstore: node %s: %w", k, err)
		}
		if a.Expires <= now {
			// Expired: dropped here rather than by a sweeper.
			kv.Delete(ctx, k)
			continue
		}
		nodes = append(nodes, a.Node)
	}
	slices.SortFunc(nodes, func(a, b hub.Node) int { return strings.Compare(a.ID, b.ID) })
	return nodes, nil
}
