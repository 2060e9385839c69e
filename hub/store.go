package hub

import "context"

// Store keeps the history of updates in one global order and delivers new
// updates to the hub. The memory store implements it; durable and
// distributed stores (bolt, Redis Streams, NATS JetStream) implement the same
// contract, checked by hubtest.TestStore.
//
// Contract:
//
//   - Every method is safe for concurrent use by any number of goroutines.
//   - Order: Seq is assigned by Append, strictly increasing in one order
//     shared by every node using the same store (Redis stream entry order,
//     JetStream stream sequence). Seq values need not be contiguous.
//   - Updates handed out by Read, Follow and Last are shared and read-only:
//     neither the store nor its callers modify them.
//   - History is bounded by the store's own limits (count and/or age),
//     applied by the store (XADD MAXLEN/MINID, JetStream MaxMsgs/MaxAge).
//     Trimmed updates vanish from Read, Lookup and Last.
//   - Blocking: Append, Lookup, Read and Last block only for I/O and honour
//     ctx. Follow blocks until ctx ends or the store fails or closes.
//   - Lifetime: whoever opens a store closes it, after the hubs using it are
//     closed. After Close every method returns an error wrapping ErrClosed
//     and Follow returns.
type Store interface {
	// Append stores u durably, sets u.Seq (and keeps u.Time), and returns
	// only once u is stored. IDs need not be unique: an update whose ID is
	// already in history is stored as well (the Mercure protocol lets
	// publishers reuse ids; retry-safe publishing is the Idempotency-Key's
	// business, not the store's).
	Append(ctx context.Context, u *Update) error

	// Lookup returns the Seq of the earliest update in history with this
	// ID (draft-dunglas-mercure-08 resolves a duplicated Last-Event-ID to
	// its earliest occurrence), or an error wrapping ErrUnknownID when no
	// update with it is in history (never published, or trimmed). Once the
	// earliest occurrence is trimmed, the next one still in history
	// answers.
	Lookup(ctx context.Context, id string) (seq uint64, err error)

	// Read returns up to limit updates with Seq > afterSeq, in order.
	// afterSeq 0 reads from the start of history. An empty result means no
	// such update is in history now.
	Read(ctx context.Context, afterSeq uint64, limit int) ([]*Update, error)

	// Last returns the newest update in history, or nil when history is
	// empty.
	Last(ctx context.Context) (*Update, error)

	// Follow calls fn, from one goroutine, for every update with Seq >
	// afterSeq, in order, as appended by any node, including updates
	// appended after Follow started, until ctx ends (it then returns
	// ctx.Err()), fn returns an error (returned as is), or the store fails
	// or closes. A follower that falls so far behind that updates were
	// trimmed before it saw them skips them. The hub runs one Follow per
	// process; fn must not block for long.
	Follow(ctx context.Context, afterSeq uint64, fn func(*Update) error) error

	// Close releases the store. It does not wait for Follow calls to
	// return, but makes them return soon.
	Close() error
}

// HealthChecker is implemented by stores that can report their state (the
// memory store cannot fail, so it does not). Health returns nil when the
// store answers, or an error saying why it does not, wrapping
// ErrUnavailable. Hub.Health uses it when the store implements it.
type HealthChecker interface {
	Health(ctx context.Context) error
}
