package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/hub"
)

var _ hub.Presence = (*Store)(nil)

// maxNodes bounds how many nodes Nodes reads.
const maxNodes = 1000

// Each node is a key {prefix}:node:<id> holding its JSON, which expires
// after the announcement's ttl, and a member of the sorted set
// {prefix}:nodes scored by that expiry, so that listing the nodes reads one
// set instead of scanning the keyspace. The set itself expires when no node
// announces itself any more.
func (s *Store) nodeKey(id string) string {
	return strings.TrimSuffix(s.stream, "stream") + "node:" + id
}

func (s *Store) nodesKey() string { return strings.TrimSuffix(s.stream, "stream") + "nodes" }

// Announce records n for ttl. See hub.Presence.
func (s *Store) Announce(ctx context.Context, n hub.Node, ttl time.Duration) error {
	what := fmt.Sprintf("announce node %q", n.ID)
	if ttl <= 0 {
		return fmt.Errorf("redisstore: %s: ttl %v is not positive", what, ttl)
	}
	b, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", what, err)
	}
	expiry := s.now().Add(ttl).UnixMilli()
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.nodeKey(n.ID), b, ttl)
		p.ZAdd(ctx, s.nodesKey(), redis.Z{Score: float64(expiry), Member: n.ID})
		p.PExpire(ctx, s.nodesKey(), ttl)
		return nil
	})
	if err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}

// Nodes returns the nodes whose announcement has not expired. See
// hub.Presence.
func (s *Store) Nodes(ctx context.Context) ([]hub.Node, error) {
	now := strconv.FormatInt(s.now().UnixMilli(), 10)
	ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.nodesKey(), Start: "(" + now, Stop: "+inf", ByScore: true, Count: maxNodes}).Result()
	if err != nil {
		return nil, s.fail(ctx, "list nodes", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.nodeKey(id)
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, s.fail(ctx, "read nodes", err)
	}
	nodes := make([]hub.Node, 0, len(vals))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok { // expired between the two reads
			continue
		}
		var n hub.Node
		if err := json.Unmarshal([]byte(str), &n); err != nil {
			return nil, fmt.Errorf("redisstore: node %q: %w", ids[i], err)
		}
		nodes = append(nodes, n)
	}
	// Expired members are dropped here rather than by a sweeper: whoever
	// lists the nodes keeps the set small.
	s.rdb.ZRemRangeByScore(ctx, s.nodesKey(), "-inf", now)
	slices.SortFunc(nodes, func(a, b hub.Node) int { return strings.Compare(a.ID, b.ID) })
	return nodes, nil
}
