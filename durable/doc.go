// Package durable serves the Durable Streams protocol (PROTOCOL.md of
// github.com/durable-streams/durable-streams, version 1.0): URL-addressed,
// append-only byte streams with offsets, catch-up, long-poll and SSE
// reads, closure, idempotent producers and forks.
//
// The package holds the domain's storage contract, Store, with the rules
// every backend shares (CreateIn, AppendIn, ReadIn, … over a Txn), and the
// HTTP Server, shaped like mercure's: New(Config), then Register(mux).
// The backends live beside the hub's stores: store/memory (Streams) and
// store/boltstore (Streams, the default for `ssehub serve`).
package durable
