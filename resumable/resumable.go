// Package resumable runs event streams whose producer is independent of the
// HTTP response that carries them, so that a dropped connection loses
// nothing: every event the producer sends is stored in a hub (and so in the
// hub's store, on any node that shares it) under an id of its own, and each
// response only follows that stored stream from where its client stopped.
//
// Event ids are "<stream>:<n>" with n counting from 0, and the terminal
// event's id is "<stream>:end". A browser's EventSource resends the last id
// it saw as Last-Event-ID when it reconnects, which is all a follower needs
// to find the stream and its place in it. After the terminal event the
// response ends; a reconnection that already has it is answered 204 No
// Content, which makes EventSource stop by itself.
//
// What a Last-Event-ID leads to:
//
//   - none, or one that is not of this form: a new stream starts (a client
//     that cannot name its stream can only be given a fresh one);
//   - "<stream>:<n>" in history: the events after it, then the live ones;
//   - "<stream>:end", or any id of a finished stream that is not in history
//     (past the end): 204, since there is nothing left to send;
//   - an id past the end of a stream still running: the stream from its
//     start, so the client can rebuild what it shows (its state is wrong);
//   - an id of a stream that is not in history at all (never existed, or
//     cleaned up): 204, because starting over under the client's feet
//     would show a different answer as the continuation of the old one.
//
// Never is an event of another stream sent: a follower subscribes to its
// stream's own topic only.
package resumable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ssehub/ssehub/admission"
	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/stream"
)

// Defaults of Options.
const (
	DefaultTopicPrefix = "urn:ssehub:stream:"
	DefaultDoneType    = "done"
	DefaultErrorType   = "error"
	// DefaultMaxProducers bounds the producers running at once in one
	// process: a producer keeps running (and storing) after its client
	// leaves, so requests that start streams and drop them must not add
	// up without end.
	DefaultMaxProducers = 1000
	// DefaultMaxProducersPerClient bounds those started by one client.
	DefaultMaxProducersPerClient = 8
)

// retryAfterBusy is the Retry-After of a stream refused by a cap: about
// the time a short stream takes to finish.
const retryAfterBusy = "5"

// ErrCanceled is the cause of a producer's context when Cancel stopped it.
var ErrCanceled = errors.New("resumable: stream canceled")

// ErrTooManyProducers is returned (wrapped) when a stream cannot start
// because Options.MaxProducers producers are running; its request is
// answered 503.
var ErrTooManyProducers = errors.New("resumable: too many streams running")

// ErrClientProducers is returned (wrapped) when a stream cannot start
// because its client runs Options.MaxProducersPerClient producers; its
// request is answered 429.
var ErrClientProducers = errors.New("resumable: this client runs too many streams")

// Options configures Streams. The zero value works.
type Options struct {
	// TopicPrefix is prepended to a stream's id to make the hub topic its
	// events are published on. Zero means DefaultTopicPrefix.
	TopicPrefix string
	// DoneType is the type of the terminal event of a stream whose producer
	// returned nil. Zero means DefaultDoneType.
	DoneType string
	// ErrorType is the type of the terminal event of a stream whose
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

// Streams starts resumable streams and follows them. Keeping a stream after
// nobody follows it, and cleaning it up, is the store's history limit: give
// the hub's store a maximum age for that (memory.Options.MaxAge and the
// like). All methods are safe for concurrent use.
type Streams struct {
	hub  *hub.Hub
	opts Options
	log  *slog.Logger

	ctx    context.Context // parent of every producer; ends with Close
	cancel context.CancelCauseFunc

	mu        sync.Mutex
	producers map[string]*producer
	clients   map[string]int // running producers per client key
	wg        sync.WaitGroup
	control   *hub.Subscription
}

// New returns Streams that keep their events in h. h should be a hub of its
// own (or at least a store with a history long enough for whole streams):
// events of resumable streams are private updates on topics under
// TopicPrefix. Close releases what New starts.
func New(h *hub.Hub, opts Options) (*Streams, error) {
	if opts.TopicPrefix == "" {
		opts.TopicPrefix = DefaultTopicPrefix
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
	s := &Streams{hub: h, opts: opts, log: opts.Logger, producers: map[string]*producer{}, clients: map[string]int{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	// Cancellations travel through the hub so that Cancel works from any
	// node, wherever the producer runs.
	ctl := s.controlTopic()
	sub, err := h.Subscribe(s.ctx, hub.SubscribeRequest{Selectors: []string{ctl}, Private: []string{ctl}})
	if err != nil {
		return nil, fmt.Errorf("resumable: subscribing to %s: %w", ctl, err)
	}
	s.control = sub
	s.wg.Add(1)
	go s.watchControl()
	return s, nil
}

func (s *Streams) controlTopic() string   { return s.opts.TopicPrefix + "control" }
func (s *Streams) topic(id string) string { return s.opts.TopicPrefix + id }
func eventID(stream string, n int) string { return stream + ":" + strconv.Itoa(n) }
func endID(stream string) string          { return stream + ":end" }
func isTerminal(m *hub.Message) bool      { return strings.HasSuffix(m.Update.ID, ":end") }

// producersRunning counts the producers of this process, for tests of the
// cleanup.
func (s *Streams) producersRunning() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.producers)
}

func (s *Streams) watchControl() {
	defer s.wg.Done()
	var msgs []*hub.Message
	for {
		var err error
		msgs, err = s.control.Receive(s.ctx, msgs[:0])
		for _, m := range msgs {
			s.cancelLocal(m.Update.Data)
		}
		if err != nil {
			return
		}
	}
}

func (s *Streams) cancelLocal(id string) bool {
	s.mu.Lock()
	p := s.producers[id]
	s.mu.Unlock()
	if p != nil {
		p.cancel(ErrCanceled)
	}
	return p != nil
}

// Cancel stops the producer of stream id on purpose, on whichever node it
// runs. Its followers receive the terminal error event.
func (s *Streams) Cancel(ctx context.Context, id string) error {
	if s.cancelLocal(id) {
		return nil
	}
	u := &hub.Update{Topics: []string{s.controlTopic()}, Data: id, Private: true}
	if err := s.hub.Publish(ctx, u); err != nil {
		return fmt.Errorf("resumable: cancel %s: %w", id, err)
	}
	return nil
}

// Close cancels every producer running in this process (their followers
// receive the terminal error event) and waits for them to return.
func (s *Streams) Close() error {
	s.cancel(errors.New("resumable: shutting down")) // every producer's context derives from it
	s.control.Close()
	s.wg.Wait()
	return nil
}

// Producer writes one stream's events. ctx ends when the stream is canceled
// or the Streams close; the producer does not see clients come and go. A
// nil return ends the stream with a DoneType event, an error with an
// ErrorType event carrying the error's message.
type Producer func(ctx context.Context, w *Writer) error

// Writer stores a producer's events. It is used by one goroutine.
type Writer struct {
	s  *Streams
	id string
	n  int
}

// StreamID returns the id of the stream being written.
func (w *Writer) StreamID() string { return w.id }

// Send stores ev as the stream's next event; ev.ID is set by the Writer and
// whatever it held is ignored. Comments are not stored.
func (w *Writer) Send(ctx context.Context, ev sse.Event) error {
	ev.ID = eventID(w.id, w.n)
	if err := w.publish(ctx, ev); err != nil {
		return err
	}
	w.n++
	return nil
}

// SendJSON stores v, encoded as JSON, as the data of a "message" event.
func (w *Writer) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("resumable: encoding JSON data: %w", err)
	}
	return w.Send(ctx, sse.Event{Data: string(b)})
}

func (w *Writer) publish(ctx context.Context, ev sse.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	u := &hub.Update{ID: ev.ID, Topics: []string{w.s.topic(w.id)}, Type: ev.Type, Data: ev.Data, Retry: ev.Retry, Private: true}
	if err := w.s.hub.Publish(ctx, u); err != nil {
		return fmt.Errorf("resumable: stream %s event %s: %w", w.id, ev.ID, err)
	}
	return nil
}

// Start starts a new stream with produce and returns its id. The producer
// runs until it returns, is canceled, or the Streams close, whoever follows.
// It fails with ErrTooManyProducers when MaxProducers are running.
func (s *Streams) Start(produce Producer) (string, error) {
	id := uuid.NewString()
	p, err := s.claim(id, "")
	if err != nil {
		return "", err
	}
	s.start(p, produce)
	return id, nil
}

// producer is a running producer: its id, whom it is counted for, and how
// to stop it.
type producer struct {
	id     string
	client string // "" for Start: counted in total only
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// claim counts a producer of client under id, within the caps.
func (s *Streams) claim(id, client string) (*producer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ctx.Err() != nil:
		return nil, fmt.Errorf("resumable: %w", hub.ErrClosed)
	case s.opts.MaxProducers > 0 && len(s.producers) >= s.opts.MaxProducers:
		return nil, fmt.Errorf("%w (at most %d at once); retry later", ErrTooManyProducers, s.opts.MaxProducers)
	case client != "" && s.opts.MaxProducersPerClient > 0 && s.clients[client] >= s.opts.MaxProducersPerClient:
		return nil, fmt.Errorf("%w (at most %d at once); retry later", ErrClientProducers, s.opts.MaxProducersPerClient)
	}
	p := &producer{id: id, client: client}
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

// start runs a claimed producer.
func (s *Streams) start(p *producer, produce Producer) {
	s.wg.Add(1)
	go s.run(p, produce)
}

func (s *Streams) run(p *producer, produce Producer) {
	defer s.wg.Done()
	defer s.unclaim(p)
	ctx, id := p.ctx, p.id
	w := &Writer{s: s, id: id}
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("producer panicked: %v", p)
			}
		}()
		return produce(ctx, w)
	}()
	if err != nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	end := sse.Event{ID: endID(id), Type: s.opts.DoneType, Data: id}
	if err != nil {
		s.log.Warn("resumable: producer failed", "stream", id, "err", err)
		end = sse.Event{ID: endID(id), Type: s.opts.ErrorType, Data: err.Error()}
	}
	// The terminal event must be stored even when the producer's context
	// is gone, or followers would wait for ever.
	storeCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done()
	if err := w.publish(storeCtx, end); err != nil {
		s.log.Error("resumable: storing the terminal event failed", "stream", id, "err", err)
	}
}

// Handler returns an http.Handler that serves resumable streams of produce:
// a request without a usable Last-Event-ID starts a new stream; a request
// with one resumes its stream (see the package documentation).
func (s *Streams) Handler(produce Producer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, produce)
	})
}

// position says where a request's Last-Event-ID puts it.
type position int

const (
	startNew  position = iota // no usable id: a new stream
	fromID                    // resume after the id
	fromStart                 // the stream again from its start
	finished                  // nothing left: 204
)

// locate parses lastID and checks it against history.
func (s *Streams) locate(ctx context.Context, lastID string) (stream string, pos position, err error) {
	stream, n, ok := strings.Cut(lastID, ":")
	if !ok || uuid.Validate(stream) != nil {
		return "", startNew, nil
	}
	if n == "end" {
		return stream, finished, nil
	}
	if _, err := strconv.ParseUint(n, 10, 31); err != nil {
		return "", startNew, nil
	}
	known := func(id string) (bool, error) {
		_, err := s.hub.Store().Lookup(ctx, id)
		if errors.Is(err, hub.ErrUnknownID) {
			return false, nil
		}
		return err == nil, err
	}
	if ok, err := known(lastID); err != nil || ok {
		return stream, fromID, err
	}
	// The id is not in history: past the end, or a stream we do not have.
	if ok, err := known(endID(stream)); err != nil || ok {
		return stream, finished, err
	}
	if ok, err := known(eventID(stream, 0)); err != nil || !ok {
		return stream, finished, err
	}
	return stream, fromStart, nil
}

func (s *Streams) serve(w http.ResponseWriter, r *http.Request, produce Producer) {
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("lastEventID")
	}
	id, pos, err := s.locate(r.Context(), lastID)
	if err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "resumable: the event store is unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if pos == finished {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var p *producer
	if pos == startNew {
		// Subscribing before the producer starts is what guarantees that
		// the follower sees its first event; the producer is counted
		// before, so that a refused one costs no subscription.
		id = uuid.NewString()
		if p, err = s.claim(id, s.opts.ClientKey(r)); err != nil {
			status := http.StatusServiceUnavailable
			if errors.Is(err, ErrClientProducers) {
				status = http.StatusTooManyRequests
			}
			w.Header().Set("Retry-After", retryAfterBusy)
			http.Error(w, err.Error(), status)
			return
		}
	}
	topic := s.topic(id)
	req := hub.SubscribeRequest{Selectors: []string{topic}, Private: []string{topic}}
	switch pos {
	case fromID:
		req.Replay = &hub.Replay{AfterID: lastID}
	case fromStart:
		req.Replay = &hub.Replay{Earliest: true}
	}
	sub, err := s.hub.Subscribe(r.Context(), req)
	if err != nil {
		if p != nil {
			s.unclaim(p)
		}
		w.Header().Set("Retry-After", "1")
		http.Error(w, "resumable: cannot follow the stream: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer sub.Close()
	if p != nil {
		s.start(p, produce)
	}
	st, err := stream.New(w, r, &s.opts.Stream)
	if err != nil {
		return
	}
	defer st.Complete()
	follow(st, sub)
}

// follow writes the subscription's events to st until the terminal event,
// the client leaving, or the subscription ending (a slow client, or the hub
// shutting down: the client reconnects and resumes).
func follow(st *stream.Stream, sub *hub.Subscription) {
	var msgs []*hub.Message
	var buf []byte
	for {
		select {
		case <-st.Done():
			return
		case <-sub.Done():
			return
		case <-sub.Ready():
		}
		var err error
		msgs, err = sub.Drain(st.Context(), msgs[:0])
		if err != nil {
			return
		}
		buf = buf[:0]
		end := false
		for _, m := range msgs {
			buf = append(buf, m.Bytes...)
			if isTerminal(m) {
				end = true
				break
			}
		}
		if len(buf) > 0 && st.SendEncoded(buf) != nil {
			return
		}
		if end {
			return
		}
	}
}

// Hub returns the hub that keeps the streams' events, for tools that look
// at them (the operator console lists and tails streams from it).
func (s *Streams) Hub() *hub.Hub { return s.hub }

// TopicPrefix returns the prefix of the topics the streams' events are
// published on; the rest of a topic is the stream's id.
func (s *Streams) TopicPrefix() string { return s.opts.TopicPrefix }
