package hub

import (
	"context"
	"time"
)

// Node is one ssehub process sharing a store, as it last announced itself.
type Node struct {
	// ID names the node; it is unique among the nodes sharing a store.
	ID string `json:"id"`
	// Addr is where the node serves HTTP, as it sees its own listener.
	Addr string `json:"addr"`
	// Subscribers is how many subscriptions were open on the node.
	Subscribers int `json:"subscribers"`
	// Seen is when the node announced itself.
	Seen time.Time `json:"seen"`
}

// Presence is implemented by stores that several nodes share (Redis, NATS):
// each node announces itself every few seconds, and any node can list the
// others. Stores of one process (memory, bolt) do not implement it: their
// only node is the local one.
//
// Contract: both methods are safe for concurrent use and block only for
// I/O, honouring ctx. An announcement lasts ttl, after which the node
// vanishes from Nodes unless it announced itself again; the store forgets
// it without anyone cleaning up, so a killed node disappears by itself.
type Presence interface {
	// Announce records n (with its Seen) for ttl, replacing the node's
	// previous announcement.
	Announce(ctx context.Context, n Node, ttl time.Duration) error
	// Nodes returns the nodes whose announcement has not expired, ordered
	// by ID.
	Nodes(ctx context.Context) ([]Node, error)
}
