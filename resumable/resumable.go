// Package resumable runs answers (event streams such as an LLM's tokens)
// whose producer is independent of the HTTP response that carries them, so
// that a dropped connection loses nothing. An answer is a durable stream
// (package durable): the producer appends each event to it and closes it
// when it finishes, and each response only follows that stream from where
// its client stopped. The same answer is therefore readable by any Durable
// Streams client at its URL under the durable server's prefix
// (/v1/stream/answers/<id> by default), and on Redis or NATS from every
// node.
//
// An answer's stream has the content type application/json, one JSON
// message per event: {"type":"…","data":"…"}, the type omitted for a
// "message" event. The last message is the terminal event, "done" (its data
// the answer's id) when the producer returned nil or "error" (its data the
// error's message) when it failed, and it is appended in the same step that
// closes the stream.
//
// A browser follows an answer with a plain EventSource. Each event's SSE id
// is "<answer>/<offset>", the answer's id and the durable offset after the
// event, so the Last-Event-ID a reconnecting EventSource sends is all a
// follower needs to find the answer and its place in it. After the terminal
// event the response ends, and a reconnection that has it is answered 204
// No Content, which makes EventSource stop by itself.
//
// What a Last-Event-ID leads to:
//
//   - none, or one that is not of this form: a new answer starts (a client
//     that cannot name its answer can only be given a fresh one);
//   - an offset inside the answer: the events after it, then the live ones;
//   - the offset of the terminal event, or past the end of a finished
//     answer: 204, since there is nothing left to send;
//   - an offset past the end of an answer still running: the answer from
//     its start, so the client can rebuild what it shows (its state is
//     wrong);
//   - an answer that does not exist (never did, expired, or deleted): 204,
//     because starting over under the client's feet would show a different
//     answer as the continuation of the old one.
//
// Never is an event of another answer sent: a follower reads its answer's
// stream only.
package resumable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/ssehub/ssehub/admission"
	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/stream"
)

// Defaults of Options.
const (
	// DefaultPrefix is prepended to an answer's id to name its durable
	// stream, so that answers have a namespace of their own on a store
	// that also serves other Durable Streams.
	DefaultPrefix = "answers/"
	// DefaultTTL is how long an answer is kept after it was last written
	// or read.
	DefaultTTL       = 10 * time.Minute
	DefaultDoneType  = "done"
	DefaultErrorType = "error"
	// DefaultMaxProducers bounds the producers running at once in one
	// process: a producer keeps running (and storing) after its client
	// leaves, so requests that start answers and drop them must not add
	// up without end.
	DefaultMaxProducers = 1000
	// DefaultMaxProducersPerClient bounds those started by one client.
	DefaultMaxProducersPerClient = 8
)

// ContentType is the content type of every answer's durable stream.
const ContentType = "application/json"

// retryAfterBusy is the Retry-After of an answer refused by a cap: about
// the time a short answer takes to finish.
const retryAfterBusy = "5"

// terminalTimeout bounds the append of the terminal event, which is made
// even when the producer's context is gone.
const terminalTimeout = 10 * time.Second

// ErrCanceled is the cause of a producer's context when Cancel stopped it,
// and the data of the terminal error event Cancel appends.
var ErrCanceled = errors.New("resumable: stream canceled")

// ErrTooManyProducers is returned (wrapped) when an answer cannot start
// because Options.MaxProducers producers are running; its request is
// answered 503.
var ErrTooManyProducers = errors.New("resumable: too many streams running")

// ErrClientProducers is returned (wrapped) when an answer cannot start
// because its client runs Options.MaxProducersPerClient producers; its
// request is answered 429.
var ErrClientProducers = errors.New("resumable: this client runs too many streams")

// ErrClosed is returned by Start and Cancel after Close.
var ErrClosed = errors.New("resumable: closed")

// Options configures Streams. The zero value works.
type Options struct {
	// Prefix is prepended to an answer's id to name its durable stream.
	// Zero means DefaultPrefix.
	Prefix string
	// TTL is each answer's Stream-TTL: it expires this long after it was
	// last written or read (whole seconds). Zero means DefaultTTL.
	TTL time.Duration
	// DoneType is the type of the terminal event of an answer whose
	// producer returned nil. Zero means DefaultDoneType.
	DoneType string
	// ErrorType is the type of the terminal event of an answer whose
	// producer failed; its data is the error's message. Zero means
	// DefaultErrorType.
	ErrorType string
	// Stream configures each follower's response (heartbeat, write
	// deadline, and Retry: the reconnection time a browser should use).
	Stream stream.Options
	// Logger receives the producers' failures. Nil discards them.
	Logger *slog.Logger
	// MaxProducers bounds the producers running at once in this process;
	// a request that would start one more is answered 503 with
	// Retry-After, and Start fails with ErrTooManyProducers. 0 means
	// DefaultMaxProducers; negative, no limit.
	MaxProducers int
	// MaxProducersPerClient bounds the producers started by requests of
	// one client (ClientKey); one more is answered 429 with Retry-After.
	// 0 means DefaultMaxProducersPerClient; negative, no limit.
	MaxProducersPerClient int
	// ClientKey names the client of a request; nil means
	// admission.Client (the address, or the one a trusted proxy gave).
	ClientKey func(*http.Request) string
}

// Streams starts answers and follows them. Keeping an answer after nobody
// follows it, and removing it, is the durable store's expiry (Options.TTL).
// All methods are safe for concurrent use.
type Streams struct {
	store durable.Store
	opts  Options
	log   *slog.Logger

	ctx    context.Context // parent of every producer; ends with Close
	cancel context.CancelCauseFunc

	mu        sync.Mutex
	producers map[string]*producer
	clients   map[string]int // running producers per client key
	followers map[string]int // followers per answer on this node
	wg        sync.WaitGroup

	indexed atomic.Int64 // the index bucket known to exist (see index.go)
}

// New returns Streams that keep their answers in store, which the caller
// closes after Close. Give it the store that the durable server serves, so
// that the answers are readable at their Durable Streams URLs.
func New(store durable.Store, opts Options) (*Streams, error) {
	if store == nil {
		return nil, errors.New("resumable: no durable store")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if opts.TTL < time.Second || opts.TTL%time.Second != 0 {
		return nil, fmt.Errorf("resumable: TTL %v: want whole seconds, at least one", opts.TTL)
	}
	if opts.DoneType == "" {
		opts.DoneType = DefaultDoneType
	}
	if opts.ErrorType == "" {
		opts.ErrorType = DefaultErrorType
	}
	if opts.MaxProducers == 0 {
		opts.MaxProducers = DefaultMaxProducers
	}
	if opts.MaxProducersPerClient == 0 {
		opts.MaxProducersPerClient = DefaultMaxProducersPerClient
	}
	if opts.ClientKey == nil {
		opts.ClientKey = admission.Client
	}
	s := &Streams{store: store, opts: opts, log: opts.Logger, producers: map[string]*producer{},
		clients: map[string]int{}, followers: map[string]int{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.indexed.Store(-1)
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	return s, nil
}

// Name returns the durable stream name of answer id: its Durable Streams
// URL is the durable server's prefix followed by it.
func (s *Streams) Name(id string) string { return s.opts.Prefix + id }

// producersRunning counts the producers of this process, for tests of the
// cleanup.
func (s *Streams) producersRunning() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.producers)
}

func (s *Streams) cancelLocal(id string) {
	s.mu.Lock()
	p := s.producers[id]
	s.mu.Unlock()
	if p != nil {
		p.cancel(ErrCanceled)
	}
}

// Cancel stops answer id on purpose, from any node: it appends the
// terminal error event (ErrCanceled) and closes the answer's stream in one
// step. The producer, wherever it runs, sees its stream closed and its
// context canceled with ErrCanceled; followers receive the terminal event.
// Canceling a finished answer does nothing.
func (s *Streams) Cancel(ctx context.Context, id string) error {
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	ev := message{Type: s.opts.ErrorType, Data: ErrCanceled.Error()}
	_, err := s.store.Append(ctx, s.Name(id), durable.AppendRequest{ContentType: ContentType, Data: ev.encode(), Units: 1, Close: true})
	if err != nil && !errors.Is(err, durable.ErrClosed) {
		return fmt.Errorf("resumable: cancel %s: %w", id, err)
	}
	s.cancelLocal(id)
	return nil
}

// Close cancels every producer running in this process (their followers
// receive the terminal error event) and waits for them to return. It does
// not close the store.
func (s *Streams) Close() error {
	s.cancel(errors.New("resumable: shutting down")) // every producer's context derives from it
	s.wg.Wait()
	return nil
}

// Start starts a new answer with produce and returns its id. The producer
// runs until it returns, is canceled, or the Streams close, whoever
// follows. It fails with ErrTooManyProducers when MaxProducers are
// running.
func (s *Streams) Start(ctx context.Context, produce Producer) (string, error) {
	p, err := s.begin(ctx, "")
	if err != nil {
		return "", err
	}
	s.start(p, produce)
	return p.id, nil
}

// producer is a running producer: its answer, whom it is counted for, and
// how to stop it.
type producer struct {
	id     string
	name   string
	client string // "" for Start: counted in total only
	stream uint64 // the durable stream's incarnation
	ctx    context.Context
	cancel context.CancelCauseFunc
	tail   atomic.Uint64 // the position after the producer's last append
}

// begin counts a producer of client within the caps and creates its
// answer's stream.
func (s *Streams) begin(ctx context.Context, client string) (*producer, error) {
	p, err := s.claim(uuid.NewString(), client)
	if err != nil {
		return nil, err
	}
	res, err := s.store.Create(ctx, p.name, durable.CreateRequest{StreamConfig: durable.StreamConfig{
		ContentType: ContentType, ContentTypeGiven: true, TTL: s.opts.TTL}})
	if err != nil {
		s.unclaim(p)
		return nil, fmt.Errorf("resumable: creating the stream of answer %s: %w", p.id, err)
	}
	p.stream = res.ID
	if err := s.index(ctx, p.id, time.Now()); err != nil {
		// The index only serves listings (the console): the answer works.
		s.log.Warn("resumable: indexing an answer failed", "answer", p.id, "err", err)
	}
	return p, nil
}

// claim counts a producer of client under id, within the caps.
func (s *Streams) claim(id, client string) (*producer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ctx.Err() != nil:
		return nil, ErrClosed
	case s.opts.MaxProducers > 0 && len(s.producers) >= s.opts.MaxProducers:
		return nil, fmt.Errorf("%w (at most %d at once); retry later", ErrTooManyProducers, s.opts.MaxProducers)
	case client != "" && s.opts.MaxProducersPerClient > 0 && s.clients[client] >= s.opts.MaxProducersPerClient:
		return nil, fmt.Errorf("%w (at most %d at once); retry later", ErrClientProducers, s.opts.MaxProducersPerClient)
	}
	p := &producer{id: id, name: s.Name(id), client: client}
	p.ctx, p.cancel = context.WithCancelCause(s.ctx)
	s.producers[id] = p
	if client != "" {
		s.clients[client]++
	}
	return p, nil
}

// unclaim uncounts p and releases its context.
func (s *Streams) unclaim(p *producer) {
	s.mu.Lock()
	delete(s.producers, p.id)
	if p.client != "" {
		if s.clients[p.client]--; s.clients[p.client] <= 0 {
			delete(s.clients, p.client)
		}
	}
	s.mu.Unlock()
	p.cancel(nil)
}

// start runs a begun producer.
func (s *Streams) start(p *producer, produce Producer) {
	s.wg.Add(2)
	go s.run(p, produce)
	go s.watch(p)
}

func (s *Streams) run(p *producer, produce Producer) {
	defer s.wg.Done()
	defer s.unclaim(p)
	ctx := p.ctx
	w := &Writer{s: s, p: p}
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("producer panicked: %v", r)
			}
		}()
		return produce(ctx, w)
	}()
	if err != nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	end := message{Type: s.opts.DoneType, Data: p.id}
	if err != nil {
		s.log.Warn("resumable: producer failed", "answer", p.id, "err", err)
		end = message{Type: s.opts.ErrorType, Data: err.Error()}
	}
	// The terminal event must be stored even when the producer's context
	// is gone, or followers would wait until the answer expires.
	storeCtx, done := context.WithTimeout(context.WithoutCancel(ctx), terminalTimeout)
	defer done()
	_, err = s.store.Append(storeCtx, p.name, durable.AppendRequest{ContentType: ContentType, Data: end.encode(), Units: 1, Close: true})
	switch {
	case errors.Is(err, durable.ErrClosed):
		// Canceled: the canceling node stored the terminal event.
	case err != nil:
		s.log.Error("resumable: storing the terminal event failed", "answer", p.id, "err", err)
	}
}

// watch cancels p's context when its stream is closed (Cancel on any node)
// or removed under it: the producer should not go on working for nobody.
// It waits on the store, which wakes it on every node when the stream
// changes; each wake costs one Stat.
func (s *Streams) watch(p *producer) {
	defer s.wg.Done()
	for {
		if err := s.store.Wait(p.ctx, p.name, p.stream, p.tail.Load()); err != nil {
			if p.ctx.Err() == nil {
				// The producer still learns of a cancellation from its
				// next append, which fails.
				s.log.Warn("resumable: watching an answer for cancellation", "answer", p.id, "err", err)
			}
			return // the producer returned, or the store failed or closed
		}
		info, err := s.store.Stat(p.ctx, p.name)
		switch {
		case p.ctx.Err() != nil:
			return
		case errors.Is(err, durable.ErrNotFound), errors.Is(err, durable.ErrGone),
			err == nil && (info.ID != p.stream || info.Closed):
			p.cancel(ErrCanceled)
			return
		case err != nil:
			s.log.Warn("resumable: watching an answer for cancellation", "answer", p.id, "err", err)
			return
		}
		if info.Tail > p.tail.Load() {
			// Our own appends woke us; wait past them. Writer advances
			// p.tail after each append, so this only skips ahead of it.
			p.tail.Store(info.Tail)
		}
	}
}
