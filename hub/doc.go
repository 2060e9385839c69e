// Package hub is the domain core of ssehub: updates, the Store interface that
// keeps their history, topic-selector matching, and the Hub that publishes
// updates, fans them out to subscribers and replays history to subscribers
// that reconnect.
//
// The package knows nothing about HTTP or about a particular protocol
// version: the mercure package adapts it to the Mercure protocol, and the
// store packages implement Store.
//
// # Data flow
//
// Hub.Publish validates an update and appends it to the Store, which gives it
// a sequence number (Seq) in one global order. The Hub runs exactly one
// follower per process (Store.Follow); for every update the follower delivers
// it encodes the update once into its event-stream bytes and puts a pointer
// to the same Message in the bounded queue of every matching subscriber. A
// subscriber's reader (typically an HTTP handler) drains its queue in batches.
// Publishers never wait for subscribers: a full queue ends that subscription
// with ErrSlowConsumer, and the client reconnects and replays from history.
package hub
