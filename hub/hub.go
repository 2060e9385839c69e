package hub

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// cachedPageSize is how many updates a replay takes from the hub's cache at
// a time.
const cachedPageSize = 4096

// Defaults of Config.
const (
	DefaultQueueSize      = 1000
	DefaultReplayPageSize = 256
	// DefaultPageBytes bounds what one Drain hands out (Config.PageBytes).
	DefaultPageBytes = 256 << 10
)

// Config configures a Hub. Only Store is required.
type Config struct {
	// Store keeps history and delivers updates to the hub. Required. The
	// hub does not close it.
	Store Store
	// QueueSize bounds each subscriber's queue of live updates; a
	// subscriber whose queue overflows is ended with ErrSlowConsumer.
	// Zero means DefaultQueueSize.
	QueueSize int
	// ReplayPageSize is the most updates a replay reads from the store at a
	// time; fewer when updates are large (see PageBytes). Zero means
	// DefaultReplayPageSize.
	ReplayPageSize int
	// PageBytes bounds, in encoded bytes, what one Drain hands out: a page
	// of history or a batch of live updates (at least one update, however
	// large). A subscriber that stops reading therefore holds one page,
	// not its history or its whole queue. Zero means DefaultPageBytes.
	PageBytes int
	// ReplayCache is how many of the newest updates the hub keeps encoded
	// in memory, so that replays of them neither read the store nor encode
	// again. Zero means DefaultReplayCache; negative, none.
	ReplayCache int
	// ReplayCacheBytes bounds the cache's memory (data and encoded bytes).
	// Zero means DefaultReplayCacheBytes.
	ReplayCacheBytes int
	// Selectors bound the topic selectors of subscriptions (Subscribe
	// refuses those over the limits) and the memory of their compiled
	// matchers. Zero fields take their defaults.
	Selectors SelectorLimits
	// Logger receives the hub's logs. Nil discards them.
	Logger *slog.Logger
}

// Stats are counters of a Hub since it was created.
type Stats struct {
	Subscribers   int    // subscriptions open now
	Published     uint64 // updates accepted by Publish on this node
	Dispatched    uint64 // updates fanned out by this node's follower
	Delivered     uint64 // messages queued to subscribers (live)
	Replayed      uint64 // messages sent from history to subscribers
	Replays       uint64 // subscriptions that asked for a replay
	SlowConsumers uint64 // subscriptions ended because their queue overflowed
	// ReplayBytes is the size of the replay pages handed out by Drain and
	// not yet superseded by the next Drain of the same subscription: what
	// replays hold in memory now, at most about one page per replaying
	// subscription.
	ReplayBytes int64
}

// Hub publishes updates to a Store and fans out what the store delivers to
// this process's subscribers. All its methods are safe for concurrent use.
type Hub struct {
	store     Store
	queueSize int
	pageSize  int
	pageBytes int
	recent    *recent
	log       *slog.Logger
	matcher   Matcher

	mu     sync.RWMutex // guards the subscriber index and closed
	idx    index
	closed bool
	// tmplGen counts the changes of the sets of template selectors in the
	// index (written under mu). tmplSnap and privSnap are the follower's
	// copies of those sets, of generation snapGen, which it matches
	// outside mu.
	tmplGen            atomic.Uint64
	tmplSnap, privSnap []*selector
	snapGen            uint64
	// privSubs counts the subscriptions with private selectors (written
	// under mu): without any, a private update goes to nobody and costs
	// no match.
	privSubs atomic.Int64
	// lastSeq is the Seq of the last update the follower fanned out. It is
	// written by the follower under mu.RLock and read by Subscribe under
	// mu.Lock, which makes registration and the replay end point atomic
	// with respect to fan-out.
	lastSeq atomic.Uint64

	cancel context.CancelFunc
	done   chan struct{}

	published, dispatched, delivered, replayed, replays, slow atomic.Uint64
	replayBytes                                               atomic.Int64
}

// index finds the subscribers of an update without scanning them all.
type index struct {
	exact map[string]map[*Subscription]struct{}    // exact selector -> subscribers
	tmpls map[*selector]map[*Subscription]struct{} // template selector -> subscribers
	privs map[*selector]int                        // private template selector -> subscriptions using it
	star  map[*Subscription]struct{}               // "*" subscribers
	all   map[*Subscription]struct{}
}

// New returns a running Hub. It starts the hub's single follower of the
// store from the newest update now in history.
func New(cfg Config) (*Hub, error) {
	if cfg.Store == nil {
		return nil, errors.New("hub: Config.Store is nil")
	}
	h := &Hub{
		store:     cfg.Store,
		queueSize: cfg.QueueSize,
		pageSize:  cfg.ReplayPageSize,
		pageBytes: cmp.Or(max(cfg.PageBytes, 0), DefaultPageBytes),
		recent:    newRecent(cfg.ReplayCache, cfg.ReplayCacheBytes),
		log:       cfg.Logger,
		done:      make(chan struct{}),
		matcher:   Matcher{Limits: cfg.Selectors},
		idx: index{
			exact: map[string]map[*Subscription]struct{}{},
			tmpls: map[*selector]map[*Subscription]struct{}{},
			privs: map[*selector]int{},
			star:  map[*Subscription]struct{}{},
			all:   map[*Subscription]struct{}{},
		},
	}
	if h.queueSize <= 0 {
		h.queueSize = DefaultQueueSize
	}
	if h.pageSize <= 0 {
		h.pageSize = DefaultReplayPageSize
	}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	last, err := cfg.Store.Last(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("hub: read the newest update: %w", err)
	}
	if last != nil {
		h.lastSeq.Store(last.Seq)
	}
	go h.follow(ctx)
	return h, nil
}

// follow runs the hub's only follower until the hub closes, restarting it
// after store errors from where it stopped.
func (h *Hub) follow(ctx context.Context) {
	defer close(h.done)
	backoff := 10 * time.Millisecond
	for {
		err := h.store.Follow(ctx, h.lastSeq.Load(), h.dispatch)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrClosed) {
			h.log.Error("hub: store closed under the hub; ending every subscription")
			h.endAll(ErrClosed)
			return
		}
		h.log.Warn("hub: following the store failed; retrying", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// dispatch fans u out to every matching subscriber. It never blocks on a
// subscriber. It is only called by the follower goroutine.
//
// Template selectors are matched first, outside h.mu: however costly a
// match, Subscribe, Close and the rest of the hub never wait for it. Only
// the delivery (index look-ups and queue appends) runs under the read lock,
// which also makes lastSeq and the index change together for Subscribe.
func (h *Hub) dispatch(u *Update) error {
	if u.Seq <= h.lastSeq.Load() { // only the follower writes lastSeq
		return nil // already fanned out (a restarted Follow)
	}
	nobody := u.Private && h.privSubs.Load() == 0
	if gen := h.tmplGen.Load(); gen != h.snapGen {
		h.mu.RLock()
		h.tmplSnap = h.tmplSnap[:0]
		for sel := range h.idx.tmpls {
			h.tmplSnap = append(h.tmplSnap, sel)
		}
		h.privSnap = h.privSnap[:0]
		for sel := range h.idx.privs {
			h.privSnap = append(h.privSnap, sel)
		}
		h.snapGen = h.tmplGen.Load()
		h.mu.RUnlock()
	}
	if !nobody {
		for _, sel := range h.tmplSnap {
			sel.dispatchMatch(u)
		}
		if u.Private {
			for _, sel := range h.privSnap {
				sel.dispatchMatch(u)
			}
		}
	}
	// Encoded once, for the subscribers and for replays of recent history.
	msg, err := encode(u)

	h.mu.RLock()
	defer h.mu.RUnlock()
	h.lastSeq.Store(u.Seq)
	h.dispatched.Add(1)
	if err != nil {
		h.log.Error("hub: dropping an update that cannot be encoded", "id", u.ID, "err", err)
		return nil
	}
	h.recent.add(msg)
	if u.Private && h.privSubs.Load() == 0 {
		return nil
	}
	deliver := func(s *Subscription) {
		if s.mark == u.Seq { // reached through another selector already
			return
		}
		s.mark = u.Seq
		if u.Private && !s.authorizedFor(u) {
			return
		}
		if s.enqueue(msg) {
			h.delivered.Add(1)
		}
	}
	for _, t := range u.Topics {
		for s := range h.idx.exact[t] {
			deliver(s)
		}
	}
	// A template indexed since the snapshot is matched here: that
	// subscription came in the meantime, a narrow window.
	for sel, subs := range h.idx.tmpls {
		if sel.dispatchMatch(u) {
			for s := range subs {
				deliver(s)
			}
		}
	}
	for s := range h.idx.star {
		deliver(s)
	}
	return nil
}

// Publish validates u, gives it an ID ("urn:uuid:…") when it has none and a
// Time when it has none, and appends it to the store. It returns once the
// update is stored; delivery to subscribers follows asynchronously, in Seq
// order. Publish never waits for subscribers.
//
// An update whose ID is already in history is stored again, as the Mercure
// protocol allows; a replay after that ID starts after its earliest
// occurrence.
func (h *Hub) Publish(ctx context.Context, u *Update) error {
	if h.isClosed() {
		return ErrClosed
	}
	if u.ID == "" {
		u.ID = "urn:uuid:" + uuid.NewString()
	}
	if err := u.Validate(); err != nil {
		return err
	}
	if u.Time.IsZero() {
		u.Time = time.Now()
	}
	if err := h.store.Append(ctx, u); err != nil {
		return fmt.Errorf("hub: publish %q: %w", u.ID, err)
	}
	h.published.Add(1)
	return nil
}

// Replay asks Subscribe to send history before live updates.
type Replay struct {
	// AfterID is the ID of the last update the subscriber has seen; the
	// updates after it are replayed. Ignored when Earliest is set.
	AfterID string
	// Earliest replays the whole history.
	Earliest bool
	// OrEarliest replays the whole history when AfterID is not (or no
	// longer) in history, instead of nothing: a subscriber whose id was
	// trimmed gets everything still kept. ReplayFound tells the two apart.
	OrEarliest bool
	// Since, when not zero and AfterID is not in history, replays the
	// updates published after this time (by Update.Time, found with a
	// binary search of history): the resumption point of a client whose
	// last id belongs to another hub's history. It wins over OrEarliest.
	Since time.Time
}

// SubscribeRequest describes a new subscription.
type SubscribeRequest struct {
	// ID identifies the subscriber; Subscribe generates a "urn:uuid:" ID
	// when empty.
	ID string
	// Selectors are the topic selectors of the subscription ("*", exact
	// topics, URI templates: draft-07's). At least one of Selectors and
	// Typed.
	Selectors []string
	// Typed are topic selectors whose syntax the caller names (draft-08's
	// matchers: exact, URL pattern), beside Selectors.
	Typed []TypedSelector
	// Private lists the selectors of private updates the subscriber may
	// receive (a private update is delivered when one of its topics matches
	// one of them). Nil: no private update.
	Private []string
	// PrivateTyped are more selectors of private updates, of a syntax the
	// caller names (the topic matchers of a draft-08 token's grants).
	PrivateTyped []TypedSelector
	// Payload is opaque data attached to the subscription (Mercure's
	// mercure.payload), reported by Subscriptions.
	Payload json.RawMessage
	// Replay, when not nil, sends history first.
	Replay *Replay
	// Notify, when set, is called each time Ready is signalled (the queue
	// went from empty to not empty, or a replay page is ready) and once
	// when the subscription ends. It lets one goroutine serve many
	// subscriptions without a goroutine blocked on each Ready. It is
	// called from the hub's goroutines, possibly with hub locks held: it
	// must return quickly and must not call the hub.
	Notify func()
}

// TypedSelector is a topic selector of a syntax named by its caller. "*"
// matches every topic whatever the syntax.
type TypedSelector struct {
	// Kind names the syntax in the Matcher's cache ("" is reserved for
	// draft-07 selectors).
	Kind string
	// Raw is the selector's text.
	Raw string
	// Compile compiles Raw within the Matcher's limits; nil: Raw matches
	// the topic equal to it only (no template is read in it).
	Compile SelectorCompiler
}

// SubscriptionInfo describes an open subscription.
type SubscriptionInfo struct {
	ID        string
	Selectors []string
	// Kinds names the syntax of each of Selectors, in order: "" for those
	// of SubscribeRequest.Selectors, TypedSelector.Kind for the Typed ones
	// after them. Nil when the request had no Typed selector.
	Kinds   []string
	Payload json.RawMessage
}

// Subscription is one subscriber's view of the hub: a bounded queue that
// the hub fills and one reader drains. Ready, Done, Err and Close are safe
// for concurrent use; Drain must be called by one goroutine at a time.
type Subscription struct {
	h    *Hub
	info SubscriptionInfo
	sels []*selector
	priv []*selector
	mark uint64 // last Seq dispatch considered; touched only by the follower

	ready  chan struct{} // capacity 1: "something to drain"
	notify func()        // SubscribeRequest.Notify, or nil
	done   chan struct{}
	once   sync.Once
	err    error // set before done is closed

	mu         sync.Mutex
	queue      []*Message
	spare      []*Message
	overflowed bool

	// Replay state, touched only by Drain.
	replaying         bool
	cursor, replayEnd uint64
	lastSent          uint64 // highest Seq handed out, to drop duplicates
	page              []*Message
	found             bool
	readN             int // updates the next store read asks for
	// inflight is the size of the replay page handed out last (counted in
	// Hub.replayBytes until the next Drain or the end).
	inflight atomic.Int64
}

// Subscribe registers a subscription and returns it. Live updates published
// after Subscribe returns are delivered, and none acknowledged before it was
// called; with req.Replay the history after
// the given ID (or all of it) comes first, with neither gap nor duplicate at
// the seam. An unknown AfterID replays nothing, or everything with
// Replay.OrEarliest (ReplayFound reports it). The
// caller must Close the subscription.
func (h *Hub) Subscribe(ctx context.Context, req SubscribeRequest) (*Subscription, error) {
	if len(req.Selectors)+len(req.Typed) == 0 {
		return nil, errors.New("hub: subscribe: no topic selector")
	}
	raws := req.Selectors
	var kinds []string
	if len(req.Typed) > 0 {
		raws = slices.Clone(raws)
		kinds = make([]string, len(req.Selectors), len(req.Selectors)+len(req.Typed))
		for _, t := range req.Typed {
			raws = append(raws, t.Raw)
			kinds = append(kinds, t.Kind)
		}
	}
	s := &Subscription{
		h:      h,
		info:   SubscriptionInfo{ID: req.ID, Selectors: raws, Kinds: kinds, Payload: req.Payload},
		ready:  make(chan struct{}, 1),
		notify: req.Notify,
		done:   make(chan struct{}),
	}
	if s.info.ID == "" {
		s.info.ID = "urn:uuid:" + uuid.NewString()
	}
	for _, raw := range req.Selectors {
		sel, err := h.matcher.get(raw)
		if err != nil {
			return nil, fmt.Errorf("hub: subscribe: topic selector %d: %w", len(s.sels)+1, err)
		}
		s.sels = append(s.sels, sel)
	}
	for _, t := range req.Typed {
		sel, err := h.matcher.typed(t)
		if err != nil {
			return nil, fmt.Errorf("hub: subscribe: topic selector %d: %w", len(s.sels)+1, err)
		}
		s.sels = append(s.sels, sel)
	}
	for _, raw := range req.Private {
		sel, err := h.matcher.get(raw)
		if err != nil {
			// A claim of the subscriber's token: it grants nothing, but
			// the subscription still gets its public updates.
			h.log.Warn("hub: ignoring a private selector over the limits", "subscriber", s.info.ID, "err", err)
			sel = &selector{raw: raw, m: nothing{}}
		}
		s.priv = append(s.priv, sel)
	}
	for _, t := range req.PrivateTyped {
		sel, err := h.matcher.typed(t)
		if err != nil {
			h.log.Warn("hub: ignoring a private selector over the limits", "subscriber", s.info.ID, "err", err)
			sel = &selector{raw: t.Raw, m: nothing{}}
		}
		s.priv = append(s.priv, sel)
	}
	var after uint64
	replay := false
	if r := req.Replay; r != nil {
		h.replays.Add(1)
		switch {
		case r.Earliest:
			replay = true
		default:
			seq, err := h.store.Lookup(ctx, r.AfterID)
			switch {
			case errors.Is(err, ErrUnknownID) && !r.Since.IsZero():
				if after, err = h.seqAtTime(ctx, r.Since); err != nil {
					return nil, fmt.Errorf("hub: subscribe: find the updates published after %v: %w", r.Since, err)
				}
				replay = true
			case errors.Is(err, ErrUnknownID):
				replay = r.OrEarliest
			case err != nil:
				return nil, fmt.Errorf("hub: subscribe: look up last event id %q: %w", r.AfterID, err)
			default:
				after, replay, s.found = seq, true, true
			}
		}
	}

	if !replay {
		// Updates acknowledged before Subscribe may not be fanned out yet:
		// skip them, so that a subscription gets exactly what is published
		// after it. Without an answer from the store, what this node has
		// fanned out is the best bound there is; refusing the subscription
		// would make a browser give up for good.
		if last, err := h.store.Last(ctx); err == nil && last != nil {
			after = last.Seq
		} else {
			after = h.lastSeq.Load()
		}
	}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	h.add(s)
	live := h.lastSeq.Load()
	h.mu.Unlock()

	s.lastSent = after
	if replay && after < live {
		s.replaying, s.cursor, s.replayEnd = true, after, live
		s.readN = h.recent.fit(h.pageBytes, h.pageSize)
		s.signal()
	}
	return s, nil
}

// seqAtTime returns the Seq after which history holds the updates
// published after t: that of the newest update whose Time is not after t,
// 0 when there is none. It probes history with reads of one update
// (about 2·log2 of the span of Seqs), assuming Times grow with Seqs, as
// they do within the clock skew between publishers.
func (h *Hub) seqAtTime(ctx context.Context, t time.Time) (uint64, error) {
	probe := func(seq uint64) (*Update, error) { // the first update with Seq >= seq
		ups, err := h.store.Read(ctx, seq-1, 1)
		if err != nil || len(ups) == 0 {
			return nil, err
		}
		return ups[0], nil
	}
	first, err := probe(1)
	if err != nil || first == nil || first.Time.After(t) {
		return 0, err
	}
	last, err := h.store.Last(ctx)
	if err != nil || last == nil {
		return 0, err
	}
	if !last.Time.After(t) {
		return last.Seq, nil
	}
	// lo is in history with Time <= t; every update with Seq >= hi has
	// Time > t.
	lo, hi := first.Seq, last.Seq
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		u, err := probe(mid)
		switch {
		case err != nil:
			return 0, err
		case u != nil && u.Seq < hi && !u.Time.After(t):
			lo = u.Seq
		default: // nothing in [mid, hi), or the first there is newer than t
			hi = mid
		}
	}
	return lo, nil
}

// Find returns the update with this ID from history, or an error wrapping
// ErrUnknownID.
func (h *Hub) Find(ctx context.Context, id string) (*Update, error) {
	seq, err := h.store.Lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	ups, err := h.store.Read(ctx, seq-1, 1)
	if err != nil {
		return nil, err
	}
	if len(ups) == 0 || ups[0].ID != id {
		return nil, fmt.Errorf("hub: find %q: trimmed meanwhile: %w", id, ErrUnknownID)
	}
	return ups[0], nil
}

// add indexes s; h.mu must be held for writing.
func (h *Hub) add(s *Subscription) {
	h.idx.all[s] = struct{}{}
	for _, sel := range s.sels {
		switch {
		case sel.star:
			h.idx.star[s] = struct{}{}
		case sel.isTemplate():
			m := h.idx.tmpls[sel]
			if m == nil {
				m = map[*Subscription]struct{}{}
				h.idx.tmpls[sel] = m
				h.tmplGen.Add(1)
			}
			m[s] = struct{}{}
		default:
			m := h.idx.exact[sel.raw]
			if m == nil {
				m = map[*Subscription]struct{}{}
				h.idx.exact[sel.raw] = m
			}
			m[s] = struct{}{}
		}
	}
	if len(s.priv) > 0 {
		h.privSubs.Add(1)
	}
	for _, sel := range s.priv {
		if sel.isTemplate() {
			if h.idx.privs[sel]++; h.idx.privs[sel] == 1 {
				h.tmplGen.Add(1)
			}
		}
	}
}

// remove unindexes s; h.mu must be held for writing.
func (h *Hub) remove(s *Subscription) {
	delete(h.idx.all, s)
	delete(h.idx.star, s)
	for _, sel := range s.sels {
		if m := h.idx.tmpls[sel]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(h.idx.tmpls, sel)
				h.tmplGen.Add(1)
			}
		}
		if m := h.idx.exact[sel.raw]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(h.idx.exact, sel.raw)
			}
		}
	}
	if len(s.priv) > 0 {
		h.privSubs.Add(-1)
	}
	for _, sel := range s.priv {
		if n, ok := h.idx.privs[sel]; ok {
			if n <= 1 {
				delete(h.idx.privs, sel)
				h.tmplGen.Add(1)
			} else {
				h.idx.privs[sel] = n - 1
			}
		}
	}
}

// Subscriptions returns the subscriptions open on this node.
func (h *Hub) Subscriptions() []SubscriptionInfo {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]SubscriptionInfo, 0, len(h.idx.all))
	for s := range h.idx.all {
		out = append(out, s.info)
	}
	return out
}

// LastEventID returns the ID of the newest update in history, or "" when
// history is empty.
func (h *Hub) LastEventID(ctx context.Context) (string, error) {
	u, err := h.store.Last(ctx)
	if err != nil || u == nil {
		return "", err
	}
	return u.ID, nil
}

// Store returns the store the hub publishes to and follows.
func (h *Hub) Store() Store { return h.store }

// Health reports the state of the hub's store: nil when it is healthy or
// cannot tell (it does not implement HealthChecker), the store's reason
// otherwise, and ErrClosed once the hub is closed.
func (h *Hub) Health(ctx context.Context) error {
	if h.isClosed() {
		return ErrClosed
	}
	if hc, ok := h.store.(HealthChecker); ok {
		return hc.Health(ctx)
	}
	return nil
}

// Matcher returns the hub's shared selector matcher, for authorization
// checks that should share its compiled selectors and caches.
func (h *Hub) Matcher() *Matcher { return &h.matcher }

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	subscribers := len(h.idx.all)
	h.mu.RUnlock()
	return Stats{
		Subscribers:   subscribers,
		Published:     h.published.Load(),
		Dispatched:    h.dispatched.Load(),
		Delivered:     h.delivered.Load(),
		Replayed:      h.replayed.Load(),
		Replays:       h.replays.Load(),
		SlowConsumers: h.slow.Load(),
		ReplayBytes:   h.replayBytes.Load(),
	}
}

func (h *Hub) isClosed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closed
}

// endAll ends every subscription with err.
func (h *Hub) endAll(err error) {
	h.mu.RLock()
	subs := make([]*Subscription, 0, len(h.idx.all))
	for s := range h.idx.all {
		subs = append(subs, s)
	}
	h.mu.RUnlock()
	for _, s := range subs {
		s.end(err)
	}
}

// Close ends every subscription (their Err is ErrClosed, and their readers
// see Done closed), refuses new publications and subscriptions, and stops
// the follower. It waits for the follower to return, not for readers. It
// does not close the store. Close is idempotent.
func (h *Hub) Close() error {
	h.mu.Lock()
	already := h.closed
	h.closed = true
	h.mu.Unlock()
	if !already {
		h.endAll(ErrClosed)
		h.cancel()
	}
	<-h.done
	return nil
}

// Info describes the subscription.
func (s *Subscription) Info() SubscriptionInfo { return s.info }

// ReplayFound reports whether the replay's AfterID was found in history.
// It is false for Earliest and for subscriptions without replay.
func (s *Subscription) ReplayFound() bool { return s.found }

// Ready returns a channel that receives a value when there may be messages
// to Drain.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Done returns a channel closed when the subscription has ended: Close was
// called, the hub closed, or the queue overflowed. Err says which.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns why the subscription ended: nil after Close, ErrClosed when
// the hub closed, ErrSlowConsumer when its queue overflowed. It returns nil
// while the subscription is open.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the subscription and unregisters it. It is idempotent.
func (s *Subscription) Close() { s.end(nil) }

func (s *Subscription) end(err error) {
	s.once.Do(func() {
		s.err = err
		h := s.h
		h.mu.Lock()
		h.remove(s)
		h.mu.Unlock()
		s.mu.Lock()
		s.queue = nil
		s.mu.Unlock()
		h.replayBytes.Add(-s.inflight.Swap(0))
		close(s.done)
		if s.notify != nil {
			s.notify()
		}
	})
}

func (s *Subscription) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
	if s.notify != nil {
		s.notify()
	}
}

// Replaying reports whether Drain is still sending history (and reading
// the store to do so). Like Drain, it must be called by the reader.
func (s *Subscription) Replaying() bool { return s.replaying }

// authorizedFor is authorized for the update being dispatched; only the
// follower may call it.
func (s *Subscription) authorizedFor(u *Update) bool {
	for _, p := range s.priv {
		if p.dispatchMatch(u) {
			return true
		}
	}
	return false
}

// authorized reports whether s may receive the private update u.
func (s *Subscription) authorized(u *Update) bool {
	for _, p := range s.priv {
		if p.matchAny(u.Topics) {
			return true
		}
	}
	return false
}

// wants reports whether u is for s: a topic matches a selector, and s is
// authorized when u is private.
func (s *Subscription) wants(u *Update) bool {
	for _, sel := range s.sels {
		if sel.matchAny(u.Topics) {
			return !u.Private || s.authorized(u)
		}
	}
	return false
}

// enqueue adds m to the queue without blocking. On overflow it ends the
// subscription with ErrSlowConsumer and reports false.
func (s *Subscription) enqueue(m *Message) bool {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return false
	default:
	}
	if s.overflowed {
		s.mu.Unlock()
		return false
	}
	if len(s.queue) >= s.h.queueSize {
		s.overflowed = true
		s.queue = nil
		s.mu.Unlock()
		s.h.slow.Add(1)
		s.h.log.Info("hub: ending a slow subscriber", "subscriber", s.info.ID, "queue", s.h.queueSize)
		go s.end(ErrSlowConsumer) // end takes h.mu, held by dispatch
		return false
	}
	// Only the first message after a Drain signals: the reader drains
	// everything queued, so further signals would only wake it for nothing
	// (and cost the follower a channel operation per delivery).
	first := len(s.queue) == 0
	s.queue = append(s.queue, m)
	s.mu.Unlock()
	if first {
		s.signal()
	}
	return true
}

// Drain appends to dst the messages ready for the subscriber, in order —
// history first while a replay is in progress, then what is queued — and
// returns it. It hands out at most about Config.PageBytes at a time (at
// least one message), so a caller that writes what it got before draining
// again holds one page per subscriber, however far behind it is; it
// signals Ready again when more is waiting. It does not block on the
// queue; during a replay it may read one page from the store. The
// messages' Bytes are shared: do not modify them. After Done, Drain
// returns dst and the subscription's Err.
func (s *Subscription) Drain(ctx context.Context, dst []*Message) ([]*Message, error) {
	select {
	case <-s.done:
		return dst, s.err
	default:
	}
	if s.replaying {
		return s.drainHistory(ctx, dst)
	}
	if n := s.inflight.Swap(0); n != 0 {
		s.h.replayBytes.Add(-n)
	}
	s.mu.Lock()
	q := s.queue
	// Hand out a page: what a slow writer copies is bounded by the page,
	// not by the queue, whose messages are shared with other subscribers.
	take, size := len(q), 0
	for i, m := range q {
		if size >= s.h.pageBytes {
			take = i
			break
		}
		size += len(m.Bytes)
	}
	s.queue = append(s.spare[:0], q[take:]...)
	more := len(s.queue) > 0
	s.mu.Unlock()
	for i, m := range q[:take] {
		if m.Update.Seq > s.lastSent {
			s.lastSent = m.Update.Seq
			dst = append(dst, m)
		}
		q[i] = nil
	}
	clear(q[take:])
	s.spare = q[:0]
	if more {
		s.signal()
	}
	return dst, nil
}

// drainHistory appends the next page of history to dst. Recent history
// comes from the hub's cache, already encoded, older history from the
// store; either way the page ends once it holds pageBytes, and the cursor
// stays on the last update handed out, so nothing read beyond the page is
// kept.
func (s *Subscription) drainHistory(ctx context.Context, dst []*Message) ([]*Message, error) {
	h := s.h
	limit := cachedPageSize
	page, cached := h.recent.page(s.cursor, cachedPageSize, s.page[:0])
	if !cached {
		limit = s.readN
		ups, err := h.store.Read(ctx, s.cursor, limit)
		if err != nil {
			return dst, fmt.Errorf("hub: replay after seq %d: %w", s.cursor, err)
		}
		for _, u := range ups {
			page = append(page, &Message{Update: u})
		}
	}
	done := len(page) < limit
	size, read := 0, 0
	for _, m := range page {
		u := m.Update
		if u.Seq > s.replayEnd {
			// Everything up to replayEnd has been read (or trimmed
			// meanwhile): the live queue takes over from here.
			done = true
			break
		}
		if size >= h.pageBytes {
			done = false
			break
		}
		s.cursor = u.Seq
		read += len(u.Data)
		if u.Seq <= s.lastSent || !s.wants(u) {
			continue
		}
		if m.Bytes == nil {
			var err error
			if m, err = encode(u); err != nil {
				continue
			}
		}
		s.lastSent = u.Seq
		size += len(m.Bytes)
		h.replayed.Add(1)
		dst = append(dst, m)
	}
	if !cached && len(page) > 0 {
		// The next read asks for as many updates as fit in a page at the
		// size of these, so that a history of large updates is not read
		// (and decoded) many pages at a time.
		s.readN = fit(h.pageBytes, h.pageSize, read/len(page))
	}
	clear(page)
	s.page = page[:0]
	h.replayBytes.Add(int64(size) - s.inflight.Swap(int64(size)))
	if done || s.cursor >= s.replayEnd {
		s.replaying = false
		s.page = nil
	}
	s.signal() // more history, or the live queue, may be waiting
	return dst, nil
}

// fit returns how many updates of about size bytes fit in pageBytes,
// between 1 and most.
func fit(pageBytes, most, size int) int {
	return min(most, pageBytes/(size+updateOverhead)+1)
}

// updateOverhead is what an update costs beyond its data in estimates of
// page sizes: id, topics, event framing.
const updateOverhead = 128

// Receive waits until messages are ready and returns them (see Drain), or
// returns an error when ctx ends or the subscription ends. It is the
// convenient way to consume a subscription from Go code.
func (s *Subscription) Receive(ctx context.Context, dst []*Message) ([]*Message, error) {
	for {
		n := len(dst)
		var err error
		if dst, err = s.Drain(ctx, dst); err != nil || len(dst) > n {
			return dst, err
		}
		select {
		case <-ctx.Done():
			return dst, ctx.Err()
		case <-s.done:
			if s.err == nil {
				return dst, ErrClosed
			}
			return dst, s.err
		case <-s.ready:
		}
	}
}
