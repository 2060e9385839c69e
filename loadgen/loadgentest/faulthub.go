// Package loadgentest provides a minimal Mercure hub for testing the load
// generator: it drops, duplicates and reorders chosen updates for chosen
// subscribers on purpose, so that tests can check that the load generator
// reports exactly those faults.
package loadgentest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/ssehub/ssehub/sse"
)

// Kind is a fault FaultHub injects.
type Kind int

// The faults.
const (
	// Drop never sends the update to the subscriber.
	Drop Kind = iota + 1
	// Duplicate sends the update to the subscriber twice in a row.
	Duplicate
	// Swap holds the update back and sends it right after the next one.
	Swap
)

// Fault is one injected fault: what happens to update N (its sequence
// number in the load generator's payload) for the Subscriber-th subscriber
// to connect (counting from 0).
type Fault struct {
	Subscriber int
	N          int
	Kind       Kind
}

// FaultHub is an httptest server implementing just enough of Mercure for
// the load generator: GET ?topic=… streams every update (exact topic
// match), honouring Last-Event-ID for ids in its history; POST with form
// fields topic, data and id publishes. It keeps the whole history.
type FaultHub struct {
	// URL is the hub's URL, http://127.0.0.1:port/.well-known/mercure.
	URL string
	// Token, when set before any request, is the bearer token both
	// publishers and subscribers must present.
	Token string

	srv    *httptest.Server
	faults map[[2]int]Kind

	mu      sync.Mutex
	subs    []*sub
	history []entry
	closed  chan struct{}
}

type entry struct {
	id, topic string
	n         int // -1 when the data is not a load-generator payload
	msg       []byte
}

// sub is one subscriber's queue of encoded events.
type sub struct {
	index int
	topic string
	held  *entry // an update held back by Swap
	queue [][]byte
	ready chan struct{} // capacity 1: something was queued
}

// Start starts a FaultHub on a loopback port injecting faults.
func Start(faults ...Fault) *FaultHub {
	h := &FaultHub{faults: map[[2]int]Kind{}, closed: make(chan struct{})}
	for _, f := range faults {
		h.faults[[2]int{f.Subscriber, f.N}] = f.Kind
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/mercure", h.subscribe)
	mux.HandleFunc("POST /.well-known/mercure", h.publish)
	h.srv = httptest.NewServer(mux)
	h.URL = h.srv.URL + "/.well-known/mercure"
	return h
}

// Close ends every stream and stops the server.
func (h *FaultHub) Close() {
	close(h.closed)
	h.srv.CloseClientConnections()
	h.srv.Close()
}

// Subscribers returns how many subscribers have connected so far.
func (h *FaultHub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *FaultHub) authorized(r *http.Request) bool {
	return h.Token == "" || r.Header.Get("Authorization") == "Bearer "+h.Token
}

func (h *FaultHub) publish(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	topic, data, id := r.PostForm.Get("topic"), r.PostForm.Get("data"), r.PostForm.Get("id")
	if topic == "" {
		http.Error(w, "no topic", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	if id == "" {
		id = fmt.Sprintf("urn:faulthub:%d", len(h.history))
	}
	var payload struct{ N *int }
	n := -1
	if json.Unmarshal([]byte(data), &payload) == nil && payload.N != nil {
		n = *payload.N
	}
	ev := sse.Event{ID: id, Data: data}
	msg, err := ev.AppendTo(nil)
	if err != nil {
		h.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e := entry{id: id, topic: topic, n: n, msg: msg}
	h.history = append(h.history, e)
	for _, s := range h.subs {
		h.deliver(s, &e)
	}
	h.mu.Unlock()
	fmt.Fprint(w, id)
}

// deliver queues e for s, applying the fault configured for them. h.mu is
// held.
func (h *FaultHub) deliver(s *sub, e *entry) {
	if e.topic != s.topic {
		return
	}
	var out [][]byte
	switch h.faults[[2]int{s.index, e.n}] {
	case Drop:
	case Duplicate:
		out = append(out, e.msg, e.msg)
	case Swap:
		s.held = e
	default:
		out = append(out, e.msg)
	}
	if s.held != nil && s.held != e {
		out = append(out, s.held.msg)
		s.held = nil
	}
	if len(out) == 0 {
		return
	}
	s.queue = append(s.queue, out...)
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (h *FaultHub) subscribe(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	topic := r.URL.Query().Get("topic")
	if topic == "" {
		http.Error(w, "no topic", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	s := &sub{index: len(h.subs), topic: topic, ready: make(chan struct{}, 1)}
	h.subs = append(h.subs, s)
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		replay := last == "earliest"
		for i := range h.history {
			if replay {
				h.deliver(s, &h.history[i])
			}
			replay = replay || h.history[i].id == last
		}
	}
	h.mu.Unlock()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	var buf strings.Builder
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.closed:
			return
		case <-s.ready:
		}
		h.mu.Lock()
		q := s.queue
		s.queue = nil
		h.mu.Unlock()
		buf.Reset()
		for _, m := range q {
			buf.Write(m)
		}
		if _, err := w.Write([]byte(buf.String())); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}
