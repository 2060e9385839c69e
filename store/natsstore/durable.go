package natsstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/durable"
)

// Defaults of StreamsOptions.
const (
	DefaultStreamsStream = "SSEHUB_DS"
	// DefaultStreamsSweep is how often a node removes the expired streams
	// it knows of.
	DefaultStreamsSweep = time.Second
	streamsRetries      = 64
	// streamsRecheck wakes a Wait that heard nothing for this long, so that
	// a notification lost with a connection costs a delay, never a hang.
	streamsRecheck = 30 * time.Second
	// offsetCache bounds the per-stream read positions a node remembers.
	offsetCache = 1 << 14
)

// Headers of a stream's messages.
const (
	metaHeader    = "Ds-Meta"    // the stream's durable.Meta after this commit, JSON
	goneHeader    = "Ds-Gone"    // "1": the stream was removed (a tombstone)
	baseHeader    = "Ds-Base"    // the sequence of its incarnation's first message; absent on that message
	recordsHeader = "Ds-Records" // "pos:units:len;…": the records packed in the data
	countHeader   = "Ds-Count"   // on the count subject: how many streams the store holds
)

// StreamsOptions configures Streams.
type StreamsOptions struct {
	// URL is the NATS server, e.g. nats://127.0.0.1:4222.
	URL string
	// Stream is the JetStream stream holding every durable stream, created
	// by OpenStreams; its subjects are "<Stream>.s.*". Nodes sharing
	// streams use the same Stream. Empty means DefaultStreamsStream.
	Stream string
	// Replicas is the stream's replication factor; 0 means 1.
	Replicas int
	// Sweep is the interval of the expiry sweep; 0 means DefaultStreamsSweep.
	Sweep time.Duration
}

// Streams is the durable.Store on NATS JetStream, shared by every node that
// opens the same stream.
//
// Each durable stream is one subject, "<Stream>.s.<name in base64url>",
// and each change to it one message on that subject: the stream's
// metadata after the change in a header, the appended records in the body.
// A message is published with Nats-Expected-Last-Subject-Sequence set to
// the subject's last message as read, so the server accepts it only if no
// other node changed the stream in between: the metadata, producer state,
// closure and data of one append are committed by one atomic publish, and
// an overtaken operation runs the shared rules again. The subject's last
// message is the stream's state (one direct get); a read from a position
// binary-searches the subject's messages by sequence (each knows the
// stream's tail after it), so it never touches other streams and costs
// O(log n) gets, or one when it continues where a read on this node ended.
//
// A change to two streams (a fork's creation or deletion changes its
// source's reference count) is two publishes: the count is raised before
// the fork is created and lowered after it is deleted, so a node that
// dies in between leaves a count too high, which keeps data, never one
// too low, which would drop data a fork still reads.
//
// Deletion publishes a tombstone and purges the subject's older messages.
// Each node's sweep removes the expired streams it has seen (and, once at
// start, every expired stream in the store); expiry holds on every node in
// between, since every operation checks it. Live readers wake on a core
// NATS notification that each commit publishes.
//
// The number of streams is kept on a subject of its own,
// "<Stream>.count", whose last message holds it. A transaction that creates
// a stream raises it by a publish conditional on the count it read, before
// the stream's own publish (and lowers it again if that one fails); one
// that removes a stream lowers it after. So CreateRequest.MaxStreams holds
// exactly across nodes, and a node dying between the two publishes leaves
// the count too high (refusing a little early), never too low.
//
// A record must fit, with its headers, in one NATS message (the server's
// max_payload, 1 MiB by default): a larger append or initial body is
// refused with a *durable.TooLargeError before anything is written.
type Streams struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	url     string
	prefix  string // "<Stream>.s."
	count   string // "<Stream>.count"
	notify  string // core NATS subject of change notifications
	sub     *nats.Subscription
	maxData int

	locks [64]sync.Mutex
	// countMu serialises this node's changes to the stream count: run at
	// once, its conditional publishes would overtake each other until
	// their retries ran out, while other nodes' are few.
	countMu sync.Mutex
	waiters durable.Waiters

	mu       sync.Mutex
	expiring map[string]struct{}
	offsets  map[string]cachedMsg // subject → the last message a read met
	closed   bool
	done     chan struct{}
	bg       sync.WaitGroup
}

// cachedMsg locates one message of a subject, so a read that continues
// from its end starts from there instead of searching.
type cachedMsg struct {
	seq, base, tail uint64
}

var _ durable.Store = (*Streams)(nil)

// OpenStreams connects to NATS, creates or updates the stream, subscribes
// to change notifications and starts the expiry sweep; Close stops them.
func OpenStreams(ctx context.Context, opts StreamsOptions) (*Streams, error) {
	if opts.Stream == "" {
		opts.Stream = DefaultStreamsStream
	}
	if !validToken(opts.Stream) {
		return nil, fmt.Errorf("natsstore: open streams: stream %q must be non-empty and free of '.', '*', '>' and spaces", opts.Stream)
	}
	nc, err := nats.Connect(opts.URL,
		nats.Name("ssehub-streams"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(-1),
		nats.Timeout(2*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("natsstore: connect to %s: %w: %w", opts.URL, durable.ErrUnavailable, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsstore: open JetStream on %s: %w", opts.URL, err)
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        opts.Stream,
		Subjects:    []string{opts.Stream + ".s.*", opts.Stream + ".count"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		AllowDirect: true,
		Replicas:    max(opts.Replicas, 1),
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsstore: create or update stream %q on %s (is JetStream enabled: nats-server -js?): %w", opts.Stream, opts.URL, err)
	}
	s := &Streams{nc: nc, js: js, stream: st, url: opts.URL, prefix: opts.Stream + ".s.", count: opts.Stream + ".count",
		notify: "_ssehub." + opts.Stream + ".changed", maxData: int(nc.MaxPayload()) - 4096,
		expiring: map[string]struct{}{},
		offsets:  map[string]cachedMsg{}, done: make(chan struct{})}
	s.sub, err = nc.Subscribe(s.notify, s.onChange)
	if err == nil {
		err = nc.Flush() // the subscription is live before the first Wait
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsstore: subscribe to %s on %s: %w: %w", s.notify, opts.URL, durable.ErrUnavailable, err)
	}
	// A reconnection may have lost notifications: every waiter looks again.
	nc.SetReconnectHandler(func(*nats.Conn) { s.waiters.WakeAll() })
	every := opts.Sweep
	if every <= 0 {
		every = DefaultStreamsSweep
	}
	s.bg.Add(1)
	go s.sweep(every)
	return s, nil
}

func (s *Streams) subject(name string) string {
	return s.prefix + base64.RawURLEncoding.EncodeToString([]byte(name))
}

func (s *Streams) nameOf(subject string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(subject, s.prefix))
	return string(b), err == nil
}

// onChange wakes the waiters a change notification concerns. Its header
// carries the stream's state, so a waiter wakes only for a state past its
// own.
func (s *Streams) onChange(m *nats.Msg) {
	name := string(m.Data)
	id, _ := strconv.ParseUint(m.Header.Get("Id"), 10, 64)
	tail, _ := strconv.ParseUint(m.Header.Get("Tail"), 10, 64)
	final := m.Header.Get("Final") == "1"
	s.waiters.Changed(name, id, tail, final)
}

// sweep removes expired streams: once at start every stream of the store
// (a node that restarted has forgotten which expire), then those this node
// has seen with an expiry.
func (s *Streams) sweep(every time.Duration) {
	defer s.bg.Done()
	s.sweepAll()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			s.mu.Lock()
			names := make([]string, 0, len(s.expiring))
			for name := range s.expiring {
				names = append(names, name)
			}
			s.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), every)
			// The count's history is of no use: only its last message is read.
			_ = s.stream.Purge(ctx, jetstream.WithPurgeSubject(s.count), jetstream.WithPurgeKeep(1))
			for _, name := range names {
				if ctx.Err() != nil {
					break
				}
				_ = s.txn(ctx, name, "expire "+name, func(tx *natsTxn) error { return tx.expire(name, now) })
			}
			cancel()
		}
	}
}

func (s *Streams) sweepAll() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(s.prefix+"*"))
	if err != nil {
		return
	}
	now := time.Now()
	for subj := range info.State.Subjects {
		if ctx.Err() != nil {
			return
		}
		if name, ok := s.nameOf(subj); ok {
			_ = s.txn(ctx, name, "expire "+name, func(tx *natsTxn) error { return tx.expire(name, now) })
		}
	}
}

func (s *Streams) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// rulesErr carries an error of the rules (not of NATS) out of a
// transaction, so that fail returns it unchanged.
type rulesErr struct{ err error }

func (e *rulesErr) Error() string { return e.err.Error() }

// errOvertaken: a publish found the subject changed since it was read.
var errOvertaken = errors.New("natsstore: overtaken by another writer")

func (s *Streams) fail(ctx context.Context, what string, err error) error {
	var rules *rulesErr
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rules):
		return rules.err
	case s.isClosed():
		return fmt.Errorf("natsstore: %s: %w", what, durable.ErrStoreClosed)
	case ctx.Err() != nil:
		return fmt.Errorf("natsstore: %s: %w", what, ctx.Err())
	default:
		return fmt.Errorf("natsstore: %s on %s: %w: %w", what, s.url, durable.ErrUnavailable, err)
	}
}

// txn runs fn against the streams as they are and commits what it wrote;
// a commit overtaken by another node's runs fn again.
func (s *Streams) txn(ctx context.Context, name, what string, fn func(*natsTxn) error) error {
	if s.isClosed() {
		return fmt.Errorf("natsstore: %s: %w", what, durable.ErrStoreClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	mu := &s.locks[fnv32(name)%uint32(len(s.locks))]
	mu.Lock()
	defer mu.Unlock()
	for attempt := range streamsRetries {
		t := &natsTxn{ctx: ctx, s: s, primary: name, read: map[string]*readMeta{}, names: map[uint64]string{},
			written: map[string]*durable.Meta{}, adds: map[uint64][]durable.Record{}}
		err := t.attempt(fn)
		if t.countLocked {
			s.countMu.Unlock()
		}
		switch {
		case t.failed != nil:
			return s.fail(ctx, what, t.failed)
		case err == nil:
			return nil
		case !errors.Is(err, errOvertaken):
			return s.fail(ctx, what, err) // fail passes a rules error through as it is
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 5)))):
		}
	}
	return fmt.Errorf("natsstore: %s: overtaken by other writers %d times in a row: %w", what, streamsRetries, durable.ErrUnavailable)
}

// attempt runs fn and commits what it wrote. The rules' own verdict is
// returned as it is (wrapped in rulesErr so that fail passes it through).
func (t *natsTxn) attempt(fn func(*natsTxn) error) error {
	if err := fn(t); err != nil {
		if t.failed != nil {
			return err
		}
		return &rulesErr{err}
	}
	return t.commit()
}

// Create implements durable.Store.
func (s *Streams) Create(ctx context.Context, name string, req durable.CreateRequest) (res durable.CreateResult, err error) {
	if len(req.Data) > s.maxData {
		return res, &durable.TooLargeError{Size: len(req.Data), Max: s.maxData}
	}
	err = s.txn(ctx, name, "create "+name, func(tx *natsTxn) error {
		res, err = durable.CreateIn(tx, name, req)
		return err
	})
	return res, err
}

// Append implements durable.Store.
func (s *Streams) Append(ctx context.Context, name string, req durable.AppendRequest) (res durable.AppendResult, err error) {
	if len(req.Data) > s.maxData {
		return res, &durable.TooLargeError{Size: len(req.Data), Max: s.maxData}
	}
	err = s.txn(ctx, name, "append to "+name, func(tx *natsTxn) error {
		res, err = durable.AppendIn(tx, name, req)
		return err
	})
	return res, err
}

// Read implements durable.Store. It publishes only to refresh a sliding
// TTL; otherwise it reads the subject's last message and then records
// that are never rewritten, so it needs no commit to be consistent.
func (s *Streams) Read(ctx context.Context, name string, req durable.ReadRequest) (res durable.ReadResult, err error) {
	err = s.txn(ctx, name, "read "+name, func(tx *natsTxn) error {
		res, err = durable.ReadIn(tx, name, req)
		return err
	})
	return res, err
}

// Stat implements durable.Store.
func (s *Streams) Stat(ctx context.Context, name string) (info durable.Info, err error) {
	err = s.txn(ctx, name, "stat "+name, func(tx *natsTxn) error {
		info, err = durable.StatIn(tx, name, time.Time{})
		return err
	})
	return info, err
}

// Delete implements durable.Store.
func (s *Streams) Delete(ctx context.Context, name string) error {
	return s.txn(ctx, name, "delete "+name, func(tx *natsTxn) error { return durable.DeleteIn(tx, name, time.Time{}) })
}

// Wait implements durable.Store. It registers before it looks, so a change
// notified between the look and the wait still wakes it.
func (s *Streams) Wait(ctx context.Context, name string, id, pos uint64) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return durable.ErrStoreClosed
	}
	s.mu.Unlock()
	woken, remove := s.waiters.Add(name, id, pos)
	defer remove()

	m, _, _, err := s.last(ctx, name)
	if err != nil {
		return s.fail(ctx, "wait for "+name, err)
	}
	if m == nil || m.ID != id || m.Tail > pos || m.Closed || m.Deleted {
		return nil
	}
	recheck := time.NewTimer(streamsRecheck)
	defer recheck.Stop()
	select {
	case <-woken:
		return nil
	case <-recheck.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return durable.ErrStoreClosed
	}
}

// last returns name's metadata from its subject's last message (nil when
// it has none, or a tombstone), that message's sequence (0: none) and its
// incarnation's first sequence.
func (s *Streams) last(ctx context.Context, name string) (m *durable.Meta, seq, base uint64, err error) {
	msg, err := s.stream.GetLastMsgForSubject(ctx, s.subject(name))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, 0, nil
	}
	if err != nil {
		return nil, 0, 0, err
	}
	if msg.Header.Get(goneHeader) == "1" {
		return nil, msg.Sequence, 0, nil
	}
	m = new(durable.Meta)
	if err := json.Unmarshal([]byte(msg.Header.Get(metaHeader)), m); err != nil {
		return nil, 0, 0, &rulesErr{fmt.Errorf("natsstore: metadata of %s at %d: %w", name, msg.Sequence, err)}
	}
	return m, msg.Sequence, baseOf(msg), nil
}

func baseOf(msg *jetstream.RawStreamMsg) uint64 {
	if b, err := strconv.ParseUint(msg.Header.Get(baseHeader), 10, 64); err == nil {
		return b
	}
	return msg.Sequence
}

// Health reports whether NATS answers.
func (s *Streams) Health(ctx context.Context) error {
	if _, err := s.stream.Info(ctx); err != nil {
		return s.fail(ctx, "stream info", err)
	}
	return nil
}

// Close implements durable.Store.
func (s *Streams) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	s.bg.Wait()
	s.nc.Close()
	return nil
}

// readMeta is a stream as a transaction read it: its metadata and the
// subject's last sequence, on which its commit is conditional.
type readMeta struct {
	meta      *durable.Meta
	seq, base uint64
}

// natsTxn is the durable.Txn of Streams: metadata comes from each subject's
// last message, writes collect in memory until commit publishes one
// message per stream changed.
type natsTxn struct {
	ctx     context.Context
	s       *Streams
	primary string
	read    map[string]*readMeta
	names   map[uint64]string // stream ID → name, for Records and AddRecord
	written map[string]*durable.Meta
	deleted []string
	adds    map[uint64][]durable.Record
	failed  error // a NATS error met by a Txn method
	// counted: StreamCount read the count (count, at countSeq), so the
	// commit's change to it is conditional on that reading.
	counted  bool
	count    int
	countSeq uint64
	// countLocked: this attempt holds the store's countMu.
	countLocked bool
	// handedOver names the streams whose overtaken publish adjustForks
	// applied instead, counting a removal itself.
	handedOver map[string]bool
}

func (t *natsTxn) nats(err error) error {
	if t.failed == nil {
		t.failed = err
	}
	return err
}

func (t *natsTxn) load(name string) (*readMeta, error) {
	if r, ok := t.read[name]; ok {
		return r, nil
	}
	m, seq, base, err := t.s.last(t.ctx, name)
	if err != nil {
		var rules *rulesErr
		if errors.As(err, &rules) {
			return nil, rules.err
		}
		return nil, t.nats(err)
	}
	r := &readMeta{meta: m, seq: seq, base: base}
	t.read[name] = r
	if m != nil {
		t.names[m.ID] = name
		if !m.Expiry().IsZero() {
			t.s.mu.Lock()
			t.s.expiring[name] = struct{}{}
			t.s.mu.Unlock()
		}
	}
	return r, nil
}

func (t *natsTxn) Meta(name string) (*durable.Meta, error) {
	if m, ok := t.written[name]; ok {
		return copyMeta(m), nil
	}
	r, err := t.load(name)
	if err != nil {
		return nil, err
	}
	return copyMeta(r.meta), nil
}

func copyMeta(m *durable.Meta) *durable.Meta {
	if m == nil {
		return nil
	}
	c := *m
	if m.Producers != nil {
		c.Producers = make(map[string]durable.ProducerState, len(m.Producers))
		for k, v := range m.Producers {
			c.Producers[k] = v
		}
	}
	return &c
}

func (t *natsTxn) PutMeta(name string, m *durable.Meta) error {
	if _, err := t.load(name); err != nil {
		return err
	}
	t.written[name] = m
	t.names[m.ID] = name
	return nil
}

func (t *natsTxn) DeleteMeta(name string) error {
	if _, err := t.load(name); err != nil {
		return err
	}
	t.written[name] = nil
	t.deleted = append(t.deleted, name)
	return nil
}

func (t *natsTxn) AddRecord(id uint64, r durable.Record) error {
	t.adds[id] = append(t.adds[id], r)
	return nil
}

// DropRecords has nothing to do of its own: a stream's records go with its
// subject when DeleteMeta's tombstone purges it.
func (t *natsTxn) DropRecords(uint64) error { return nil }

// NewID draws at random: 63 random bits make a collision between two
// incarnations of streams practically impossible without a counter that
// every node would have to agree on.
func (t *natsTxn) NewID() (uint64, error) { return rand.Uint64()>>1 | 1, nil }

// Records finds the message holding position from by binary search over
// the subject's sequences (every message knows the stream's tail after
// it), or continues from where this node's last read of it ended, then
// reads on message by message.
func (t *natsTxn) Records(id, from uint64, maxBytes int) ([]durable.Record, error) {
	name, ok := t.names[id]
	r := t.read[name]
	if !ok || r == nil || r.meta == nil || r.meta.ID != id {
		return nil, fmt.Errorf("natsstore: records of stream %d read before its metadata", id)
	}
	subj := t.s.subject(name)
	seq, err := t.find(subj, r, from)
	if err != nil {
		return nil, err
	}
	var out []durable.Record
	used := 0
	for seq != 0 && seq <= r.seq && (len(out) == 0 || used < maxBytes) {
		msg, err := t.s.stream.GetMsg(t.ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, t.nats(err)
		}
		if msg.Sequence > r.seq {
			break
		}
		recs, tail, err := decodeMsg(msg)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			if rec.Pos+rec.Units > from && (len(out) == 0 || used < maxBytes) {
				out, used = append(out, rec), used+len(rec.Data)
			}
		}
		t.s.remember(subj, cachedMsg{seq: msg.Sequence, base: r.base, tail: tail})
		seq = msg.Sequence + 1
	}
	return append(out, t.pending(id, from)...), nil
}

// pending returns the records this transaction added to stream id past
// from.
func (t *natsTxn) pending(id, from uint64) []durable.Record {
	var out []durable.Record
	for _, rec := range t.adds[id] {
		if rec.Pos+rec.Units > from {
			out = append(out, rec)
		}
	}
	return out
}

// find returns the sequence from which to read the subject for position
// from: the first message whose tail is past from.
func (t *natsTxn) find(subj string, r *readMeta, from uint64) (uint64, error) {
	lo, hi := r.base, r.seq
	if c, ok := t.s.cached(subj); ok && c.base == r.base && c.tail <= from && c.seq < hi {
		lo = c.seq + 1
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		msg, err := t.s.stream.GetMsg(t.ctx, mid, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, t.nats(err)
		}
		_, tail, err := decodeMsg(msg)
		if err != nil {
			return 0, err
		}
		if tail > from { // the answer is at or before mid: its message is the first from mid on
			hi = mid
		} else {
			lo = msg.Sequence + 1
		}
	}
	return lo, nil
}

func (s *Streams) cached(subj string) (cachedMsg, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.offsets[subj]
	return c, ok
}

func (s *Streams) remember(subj string, c cachedMsg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.offsets) >= offsetCache {
		clear(s.offsets) // a cheap bound: the next reads search again
	}
	s.offsets[subj] = c
}

// decodeMsg returns a message's records and the stream's tail after it.
func decodeMsg(msg *jetstream.RawStreamMsg) ([]durable.Record, uint64, error) {
	var m struct {
		Tail uint64 `json:"tail"`
	}
	if h := msg.Header.Get(metaHeader); h != "" {
		if err := json.Unmarshal([]byte(h), &m); err != nil {
			return nil, 0, fmt.Errorf("natsstore: message %d: metadata: %w", msg.Sequence, err)
		}
	}
	spec := msg.Header.Get(recordsHeader)
	if spec == "" {
		return nil, m.Tail, nil
	}
	var recs []durable.Record
	data := msg.Data
	for part := range strings.SplitSeq(spec, ";") {
		f := strings.Split(part, ":")
		if len(f) != 3 {
			return nil, 0, fmt.Errorf("natsstore: message %d: malformed %s %q", msg.Sequence, recordsHeader, spec)
		}
		pos, err1 := strconv.ParseUint(f[0], 10, 64)
		units, err2 := strconv.ParseUint(f[1], 10, 64)
		n, err3 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || err3 != nil || n < 0 || n > len(data) {
			return nil, 0, fmt.Errorf("natsstore: message %d: malformed %s %q", msg.Sequence, recordsHeader, spec)
		}
		recs = append(recs, durable.Record{Pos: pos, Units: units, Data: data[:n:n]})
		data = data[n:]
	}
	return recs, m.Tail, nil
}

// expire removes name when it has expired at now, and forgets it in the
// sweep's set when it is gone or no longer expires.
func (t *natsTxn) expire(name string, now time.Time) error {
	m, err := t.Meta(name)
	if err != nil {
		return err
	}
	if m == nil || m.Deleted || m.Expiry().IsZero() {
		t.s.mu.Lock()
		delete(t.s.expiring, name)
		t.s.mu.Unlock()
		return nil
	}
	if m.Expired(now) {
		return durable.ExpireIn(t, name, now)
	}
	return nil
}

// StreamCount implements durable.StreamCounter from the count subject's
// last message. A store without one (new, or from before the count) is
// counted once, stream by stream; the commit that first writes the count
// is conditional on there being none, so nodes doing so at once agree.
func (t *natsTxn) StreamCount() (int, error) {
	if t.counted {
		return t.count, nil
	}
	t.lockCount()
	n, seq, err := t.s.readCount(t.ctx)
	if err != nil {
		var rules *rulesErr
		if errors.As(err, &rules) {
			return 0, rules.err
		}
		return 0, t.nats(err)
	}
	t.counted, t.count, t.countSeq = true, n, seq
	return n, nil
}

// readCount returns the number of streams and the count subject's last
// sequence (0: no count yet, n then counted from the streams themselves).
func (s *Streams) readCount(ctx context.Context) (n int, seq uint64, err error) {
	msg, err := s.stream.GetLastMsgForSubject(ctx, s.count)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		n, err := s.countStreams(ctx)
		return n, 0, err
	}
	if err != nil {
		return 0, 0, err
	}
	n, err = strconv.Atoi(msg.Header.Get(countHeader))
	if err != nil || n < 0 {
		return 0, 0, &rulesErr{fmt.Errorf("natsstore: corrupt stream count at %s %d: %q", s.count, msg.Sequence, msg.Header.Get(countHeader))}
	}
	return n, msg.Sequence, nil
}

// countStreams counts the streams whose subject's last message is not a
// tombstone.
func (s *Streams) countStreams(ctx context.Context) (int, error) {
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(s.prefix+"*"))
	if err != nil {
		return 0, err
	}
	n := 0
	for subj := range info.State.Subjects {
		msg, err := s.stream.GetLastMsgForSubject(ctx, subj)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if msg.Header.Get(goneHeader) != "1" {
			n++
		}
	}
	return n, nil
}

// publishCount writes n as the count, conditional on its last sequence
// being seq.
func (s *Streams) publishCount(ctx context.Context, n int, seq uint64) error {
	msg := nats.NewMsg(s.count)
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(seq, 10))
	msg.Header.Set(countHeader, strconv.Itoa(n))
	_, err := s.js.PublishMsg(ctx, msg)
	if isOvertaken(err) {
		return errOvertaken
	}
	return err
}

// adjustCount adds delta to the count, retrying until no other node
// overtakes it.
func (s *Streams) adjustCount(ctx context.Context, delta int) error {
	for range streamsRetries {
		n, seq, err := s.readCount(ctx)
		if err != nil {
			return err
		}
		if err := s.publishCount(ctx, max(n+delta, 0), seq); !errors.Is(err, errOvertaken) {
			return err
		}
	}
	return fmt.Errorf("natsstore: stream count: overtaken %d times in a row: %w", streamsRetries, durable.ErrUnavailable)
}

// countDelta is how many streams the transaction creates minus how many
// it removes.
func (t *natsTxn) countDelta() int {
	d := 0
	for name, m := range t.written {
		if t.handedOver[name] {
			continue
		}
		switch old := t.read[name].meta; {
		case old == nil && m != nil:
			d++
		case old != nil && m == nil:
			d--
		}
	}
	return d
}

// lockCount takes the store's countMu for the rest of this attempt.
func (t *natsTxn) lockCount() {
	if !t.countLocked {
		t.s.countMu.Lock()
		t.countLocked = true
	}
}

// raiseCount raises the count by delta for the streams the transaction
// creates: conditional on the count StreamCount read, so that an
// overtaken limit check runs again, or else on the count as it is now.
func (t *natsTxn) raiseCount(delta int) error {
	if t.counted {
		return t.s.publishCount(t.ctx, t.count+delta, t.countSeq)
	}
	t.lockCount()
	return t.s.adjustCount(t.ctx, delta)
}

// commit publishes one message per stream written, each conditional on the
// subject's last sequence as read. The primary stream (the operation's own)
// decides: streams whose fork count rises are published before it (an
// overtaken primary undoes them), the others after it (an overtaken one is
// applied again to its current state), so a failure in between can only
// leave a count too high.
func (t *natsTxn) commit() error {
	delta := t.countDelta()
	if delta != 0 {
		t.lockCount()
	}
	if delta > 0 {
		if err := t.raiseCount(delta); err != nil {
			return err
		}
	}
	err := t.commitStreams()
	switch {
	case delta > 0 && err != nil:
		// Nothing was created: give the count back (best effort; a failure
		// leaves it too high, on the safe side).
		_ = t.s.adjustCount(context.WithoutCancel(t.ctx), -delta)
	case delta < 0 && err == nil:
		if delta = t.countDelta(); delta < 0 {
			err = t.s.adjustCount(t.ctx, delta)
		}
	}
	return err
}

// commitStreams publishes the streams' messages in the order commit
// describes.
func (t *natsTxn) commitStreams() error {
	var before, after []string
	for name, m := range t.written {
		if name == t.primary {
			continue
		}
		old := t.read[name].meta
		if m != nil && old != nil && m.Forks > old.Forks {
			before = append(before, name)
		} else {
			after = append(after, name)
		}
	}
	var done []string
	for _, name := range before {
		if err := t.publish(name); err != nil {
			t.undo(done)
			return err
		}
		done = append(done, name)
	}
	if _, ok := t.written[t.primary]; ok {
		if err := t.publish(t.primary); err != nil {
			t.undo(done)
			return err
		}
	}
	for _, name := range after {
		if err := t.publish(name); errors.Is(err, errOvertaken) {
			if t.handedOver == nil {
				t.handedOver = map[string]bool{}
			}
			t.handedOver[name] = true
			err = t.s.adjustForks(t.ctx, name, t.written[name], t.read[name].meta)
			if err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	return nil
}

// publish writes name's new state: metadata and pending records, or a
// tombstone that then purges the subject's older messages.
func (t *natsTxn) publish(name string) error {
	r := t.read[name]
	m := t.written[name]
	msg := nats.NewMsg(t.s.subject(name))
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(r.seq, 10))
	if m == nil {
		msg.Header.Set(goneHeader, "1")
	} else {
		raw, err := json.Marshal(m)
		if err != nil {
			return &rulesErr{fmt.Errorf("natsstore: metadata of %s: %w", name, err)}
		}
		msg.Header.Set(metaHeader, string(raw))
		if r.meta != nil && r.meta.ID == m.ID {
			msg.Header.Set(baseHeader, strconv.FormatUint(r.base, 10))
		}
		var spec []string
		for _, rec := range t.adds[m.ID] {
			spec = append(spec, fmt.Sprintf("%d:%d:%d", rec.Pos, rec.Units, len(rec.Data)))
			msg.Data = append(msg.Data, rec.Data...)
		}
		if len(spec) > 0 {
			msg.Header.Set(recordsHeader, strings.Join(spec, ";"))
		}
	}
	_, err := t.s.js.PublishMsg(t.ctx, msg)
	if isOvertaken(err) {
		return errOvertaken
	}
	if errors.Is(err, nats.ErrMaxPayload) {
		// The data fitted (Create and Append check) but not with this
		// stream's metadata: refused all the same, nothing written.
		size := 0
		for _, rec := range t.adds[m.ID] {
			size += len(rec.Data)
		}
		return &rulesErr{&durable.TooLargeError{Size: size, Max: max(int(t.s.nc.MaxPayload())-msgHeaderSize(msg), 0)}}
	}
	if err != nil {
		return err
	}
	if m == nil {
		// Best effort: a failed purge leaves messages before the tombstone,
		// which no read reaches.
		_ = t.s.stream.Purge(t.ctx, jetstream.WithPurgeSubject(msg.Subject), jetstream.WithPurgeKeep(1))
		t.s.mu.Lock()
		delete(t.s.expiring, name)
		t.s.mu.Unlock()
	}
	t.s.notifyChange(name, m)
	return nil
}

// undo lowers again the fork counts that an overtaken commit raised.
func (t *natsTxn) undo(names []string) {
	for _, name := range names {
		_ = t.s.adjustForks(t.ctx, name, t.read[name].meta, t.written[name])
	}
}

// adjustForks applies to name's current state the change of fork count
// from old to new (and the removal of a deleted stream whose last fork
// went), retrying until no other node overtakes it.
func (s *Streams) adjustForks(ctx context.Context, name string, want, had *durable.Meta) error {
	if had == nil {
		return nil
	}
	delta := -had.Forks
	if want != nil {
		delta += want.Forks
	}
	for range streamsRetries {
		t := &natsTxn{ctx: ctx, s: s, primary: name, read: map[string]*readMeta{}, names: map[uint64]string{},
			written: map[string]*durable.Meta{}, adds: map[uint64][]durable.Record{}}
		cur, err := t.Meta(name)
		if err != nil || cur == nil || cur.ID != had.ID {
			return err
		}
		cur.Forks += delta
		if cur.Forks <= 0 && cur.Deleted {
			t.written[name] = nil
		} else {
			t.written[name] = cur
		}
		err = t.publish(name)
		if err == nil && t.written[name] == nil {
			err = s.adjustCount(ctx, -1) // the soft-deleted source is removed
		}
		if !errors.Is(err, errOvertaken) {
			return err
		}
	}
	return fmt.Errorf("natsstore: fork count of %s: overtaken %d times in a row: %w", name, streamsRetries, durable.ErrUnavailable)
}

// notifyChange tells every node's waiters that name changed.
func (s *Streams) notifyChange(name string, m *durable.Meta) {
	msg := nats.NewMsg(s.notify)
	msg.Data = []byte(name)
	final := "1"
	if m != nil {
		msg.Header.Set("Id", strconv.FormatUint(m.ID, 10))
		msg.Header.Set("Tail", strconv.FormatUint(m.Tail, 10))
		if !m.Closed && !m.Deleted {
			final = "0"
		}
	}
	msg.Header.Set("Final", final)
	_ = s.nc.PublishMsg(msg) // a lost notification costs a waiter streamsRecheck at most
}

// isOvertaken says whether err is JetStream refusing a publish whose
// expected last subject sequence is not the subject's.
func isOvertaken(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// msgHeaderSize is about how many bytes msg's headers take on the wire.
func msgHeaderSize(msg *nats.Msg) int {
	n := len("NATS/1.0\r\n\r\n")
	for k, vs := range msg.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}
