// Package natsstore is the hub.Store on NATS JetStream, shared by every
// ssehub node that opens the same stream and hub name: they form one hub.
//
// One stream (file storage) holds the updates of its hubs under the
// subjects "<stream>.<hub>.<h>", where h is the hex SHA-256 of the update's
// ID (IDs may hold any character; subjects may not). Seq is the stream
// sequence, one order for every node. History is bounded by the stream's
// MaxBytes, MaxMsgs and MaxAge, enforced by the server.
//
// IDs may repeat: every Append is stored. Lookup asks the server for the
// first message on the ID's subject still in the stream (a message get with
// next_by_subj from sequence 1), so the earliest occurrence answers, and no
// second structure (such as a KV bucket written apart from the stream,
// which could disagree with it after a crash or a trim) has to be kept in
// step: an update leaves the index exactly when it leaves history.
//
// The Idempotency-Key records live in a KV bucket beside the stream
// (idempotency.go).
//
// Follow is one ordered consumer per node, recreated after the last
// delivered Seq when the connection is lost; the client reconnects by
// itself.
package natsstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/internal/codec"
)

// Defaults of Options.
const (
	DefaultStream     = "SSEHUB"
	DefaultHub        = "default"
	DefaultMaxUpdates = 1_000_000
)

// idHeader carries the update's ID, to confirm a Lookup.
const idHeader = "Ssehub-Id"

// Options configures a Store.
type Options struct {
	// URL is the NATS server, e.g. nats://127.0.0.1:4222.
	URL string
	// Stream is the JetStream stream's name, created (or updated to these
	// limits) by Open; its subjects are "<Stream>.>". Empty means
	// DefaultStream.
	Stream string
	// Hub names the hub within the stream: nodes of one hub use the same
	// Stream and Hub. Empty means DefaultHub.
	Hub string
	// MaxUpdates is the stream's MaxMsgs: 0 means DefaultMaxUpdates. The
	// limit is the stream's, shared by the hubs in it.
	MaxUpdates int
	// MaxBytes is the stream's MaxBytes, as the server counts messages
	// (subject, headers and the update's JSON); 0 or negative: none, the
	// default, because JetStream reserves a stream's MaxBytes from the
	// server's storage when the stream is created (a few streams of a
	// gigabyte exhaust a small server), and the server's own storage limit
	// bounds it anyway. Shared by the hubs in the stream, like MaxUpdates.
	MaxBytes int64
	// MaxAge is the stream's MaxAge; 0 keeps updates whatever their age.
	MaxAge time.Duration
	// Replicas is the stream's replication factor in a NATS cluster; 0
	// means 1.
	Replicas int
}

// Store is a hub.Store on a JetStream stream. It is safe for concurrent use.
type Store struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream
	name     string
	prefix   string // "<stream>.<hub>."
	filter   string // "<stream>.<hub>.*"
	url      string
	closing  chan struct{}
	replicas int

	mu     sync.Mutex
	closed bool

	kvMu sync.Mutex
	kv   jetstream.KeyValue // the Idempotency-Key records, once opened
}

var _ hub.Store = (*Store)(nil)
var _ hub.HealthChecker = (*Store)(nil)

// validToken reports whether s can be one token of a subject.
func validToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n")
}

// Open connects to NATS and creates or updates the stream.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.Hub == "" {
		opts.Hub = DefaultHub
	}
	if !validToken(opts.Stream) || !validToken(opts.Hub) {
		return nil, fmt.Errorf("natsstore: open: stream %q and hub %q must be non-empty and free of '.', '*', '>' and spaces", opts.Stream, opts.Hub)
	}
	if opts.MaxUpdates < 0 {
		return nil, fmt.Errorf("natsstore: open: MaxUpdates %d is negative; the nats store always keeps history", opts.MaxUpdates)
	}
	if opts.MaxUpdates == 0 {
		opts.MaxUpdates = DefaultMaxUpdates
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = -1 // JetStream's "no limit", which reserves nothing
	}
	nc, err := nats.Connect(opts.URL,
		nats.Name("ssehub"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(-1), // fail publishes at once while disconnected: 503, not a late surprise
		nats.Timeout(2*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("natsstore: connect to %s: %w: %w", opts.URL, hub.ErrUnavailable, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsstore: open JetStream on %s: %w", opts.URL, err)
	}
	cfg := jetstream.StreamConfig{
		Name:      opts.Stream,
		Subjects:  []string{opts.Stream + ".>"},
		Storage:   jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,
		MaxMsgs:   int64(opts.MaxUpdates),
		MaxBytes:  opts.MaxBytes,
		MaxAge:    opts.MaxAge,
		Replicas:  max(opts.Replicas, 1),
	}
	st, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsstore: create or update stream %q on %s (is JetStream enabled: nats-server -js?): %w", opts.Stream, opts.URL, err)
	}
	p := opts.Stream + "." + opts.Hub + "."
	return &Store{nc: nc, js: js, stream: st, name: opts.Stream, prefix: p, filter: p + "*", url: opts.URL, closing: make(chan struct{}), replicas: cfg.Replicas}, nil
}

// subject is where the update with this ID is published.
func (s *Store) subject(id string) string {
	h := sha256.Sum256([]byte(id))
	return s.prefix + hex.EncodeToString(h[:])
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// fail wraps err from an operation: ErrClosed after Close, the context's
// error when ctx ended, ErrUnavailable otherwise.
func (s *Store) fail(ctx context.Context, what string, err error) error {
	if s.isClosed() {
		return fmt.Errorf("natsstore: %s: %w", what, hub.ErrClosed)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("natsstore: %s: %w", what, ctx.Err())
	}
	return fmt.Errorf("natsstore: %s on %s: %w: %w", what, s.url, hub.ErrUnavailable, err)
}

// Append publishes u and waits for JetStream's acknowledgement (the update
// is then stored), and sets u.Seq. See hub.Store.
func (s *Store) Append(ctx context.Context, u *hub.Update) error {
	what := fmt.Sprintf("append %q", u.ID)
	if s.isClosed() {
		return fmt.Errorf("natsstore: %s: %w", what, hub.ErrClosed)
	}
	if u.Time.IsZero() {
		u.Time = time.Now()
	}
	b, err := codec.Marshal(u)
	if err != nil {
		return fmt.Errorf("natsstore: %s: %w", what, err)
	}
	m := nats.NewMsg(s.subject(u.ID))
	m.Data = b
	m.Header.Set(idHeader, u.ID)
	ack, err := s.js.PublishMsg(ctx, m)
	if err != nil {
		return s.fail(ctx, what, err)
	}
	u.Seq = ack.Sequence
	return nil
}

// Lookup asks the server for the first update on the ID's subject, the
// earliest with this ID. See hub.Store.
func (s *Store) Lookup(ctx context.Context, id string) (uint64, error) {
	what := fmt.Sprintf("lookup %q", id)
	if s.isClosed() {
		return 0, fmt.Errorf("natsstore: %s: %w", what, hub.ErrClosed)
	}
	raw, err := s.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(s.subject(id)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, fmt.Errorf("natsstore: %s: %w", what, hub.ErrUnknownID)
	}
	if err != nil {
		return 0, s.fail(ctx, what, err)
	}
	if raw.Header.Get(idHeader) != id { // a SHA-256 collision: never seen
		return 0, fmt.Errorf("natsstore: %s: %w", what, hub.ErrUnknownID)
	}
	return raw.Sequence, nil
}

// decode turns a consumed message into an update.
func decode(m jetstream.Msg) (*hub.Update, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("natsstore: message on %s: %w", m.Subject(), err)
	}
	return codec.Unmarshal(m.Data(), md.Sequence.Stream)
}

// consumer returns an ordered consumer of the hub's updates from startSeq
// (0: the whole history; last: only the newest).
func (s *Store) consumer(ctx context.Context, startSeq uint64, last bool) (jetstream.Consumer, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{s.filter}, DeliverPolicy: jetstream.DeliverAllPolicy,
		InactiveThreshold: 30 * time.Second}
	switch {
	case last:
		cfg.DeliverPolicy = jetstream.DeliverLastPolicy
	case startSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, startSeq
	}
	return s.js.OrderedConsumer(ctx, s.name, cfg)
}

// fetch reads up to limit updates that are in history now from c.
func fetch(c jetstream.Consumer, limit int) ([]*hub.Update, error) {
	batch, err := c.FetchNoWait(limit)
	if err != nil {
		return nil, err
	}
	var out []*hub.Update
	for m := range batch.Messages() {
		u, err := decode(m)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
		return nil, err
	}
	return out, nil
}

// Read returns up to limit updates after afterSeq, with one short-lived
// ordered consumer. See hub.Store.
func (s *Store) Read(ctx context.Context, afterSeq uint64, limit int) ([]*hub.Update, error) {
	what := fmt.Sprintf("read after %d", afterSeq)
	if s.isClosed() {
		return nil, fmt.Errorf("natsstore: %s: %w", what, hub.ErrClosed)
	}
	if limit <= 0 {
		return nil, nil
	}
	c, err := s.consumer(ctx, afterSeq+1, false)
	if err != nil {
		return nil, s.fail(ctx, what, err)
	}
	defer s.deleteConsumer(c)
	out, err := fetch(c, limit)
	if err != nil {
		return nil, s.fail(ctx, what, err)
	}
	return out, nil
}

// deleteConsumer removes a short-lived consumer (the server would after its
// InactiveThreshold anyway).
func (s *Store) deleteConsumer(c jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if name := c.CachedInfo(); name != nil {
		s.stream.DeleteConsumer(ctx, name.Name)
	}
}

// Last returns the newest update, or nil. See hub.Store.
func (s *Store) Last(ctx context.Context) (*hub.Update, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("natsstore: last: %w", hub.ErrClosed)
	}
	c, err := s.consumer(ctx, 0, true)
	if err != nil {
		return nil, s.fail(ctx, "last", err)
	}
	defer s.deleteConsumer(c)
	out, err := fetch(c, 1)
	if err != nil {
		return nil, s.fail(ctx, "last", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out[0], nil
}

// Follow delivers every update after afterSeq to fn from one ordered
// consumer. When the consumer fails (the server went away) it is recreated
// after the last delivered Seq, with backoff, so nothing still in history
// is missed. See hub.Store.
func (s *Store) Follow(ctx context.Context, afterSeq uint64, fn func(*hub.Update) error) error {
	cursor := afterSeq
	backoff := time.Duration(0)
	wait := func() error {
		backoff = min(max(2*backoff, 50*time.Millisecond), 2*time.Second)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return fmt.Errorf("natsstore: follow: %w", hub.ErrClosed)
		case <-time.After(backoff):
			return nil
		}
	}
	for {
		if s.isClosed() {
			return fmt.Errorf("natsstore: follow: %w", hub.ErrClosed)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := s.consumer(ctx, cursor+1, false)
		if err != nil {
			if err := wait(); err != nil {
				return err
			}
			continue
		}
		err = s.consume(ctx, c, &cursor, &backoff, fn)
		s.deleteConsumer(c)
		if err != nil {
			return err
		}
		if err := wait(); err != nil {
			return err
		}
	}
}

// consume runs c's message iterator until it fails (returns nil: Follow
// recreates the consumer), ctx ends, the store closes or fn fails.
func (s *Store) consume(ctx context.Context, c jetstream.Consumer, cursor *uint64, backoff *time.Duration, fn func(*hub.Update) error) error {
	it, err := c.Messages()
	if err != nil {
		return nil
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	done := make(chan struct{})
	defer close(done)
	go func() { // Close stops the iterator too
		select {
		case <-s.closing:
			it.Stop()
		case <-done:
		}
	}()
	for {
		m, err := it.Next()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case s.isClosed():
				return fmt.Errorf("natsstore: follow: %w", hub.ErrClosed)
			}
			return nil
		}
		u, err := decode(m)
		if err != nil {
			return err
		}
		if u.Seq <= *cursor { // a reset consumer may redeliver
			continue
		}
		*backoff = 0
		if err := fn(u); err != nil {
			return err
		}
		*cursor = u.Seq
	}
}

// Health reports whether the connection is up and the stream answers.
func (s *Store) Health(ctx context.Context) error {
	if s.isClosed() {
		return fmt.Errorf("natsstore: health: %w", hub.ErrClosed)
	}
	if st := s.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("natsstore: health: connection to %s is %v: %w", s.url, st, hub.ErrUnavailable)
	}
	if _, err := s.stream.Info(ctx); err != nil {
		return s.fail(ctx, "stream info", err)
	}
	return nil
}

// Close closes the connection and makes Follow return. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()
	s.nc.Close()
	return nil
}
