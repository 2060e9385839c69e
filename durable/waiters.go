package durable

import "sync"

// Waiters is the registry of a distributed Store's local Waits: each node
// learns of other nodes' changes by a notification that names the stream
// and its new state, and wakes only the Waits that the change concerns. A
// notification may arrive after the Wait it concerns looked at the stream,
// which is why a Wait registers before it looks and the state travels with
// the notification. The zero value is ready to use; it is safe for
// concurrent use.
type Waiters struct {
	mu sync.Mutex
	m  map[string]map[*waiter]struct{}
}

type waiter struct {
	id, pos uint64
	ch      chan struct{}
}

// Add registers a Wait on name for data past pos in incarnation id. Its
// channel is closed when a change concerns it; remove drops the
// registration and must be called when the Wait ends.
func (w *Waiters) Add(name string, id, pos uint64) (wake <-chan struct{}, remove func()) {
	wt := &waiter{id: id, pos: pos, ch: make(chan struct{})}
	w.mu.Lock()
	if w.m == nil {
		w.m = map[string]map[*waiter]struct{}{}
	}
	if w.m[name] == nil {
		w.m[name] = map[*waiter]struct{}{}
	}
	w.m[name][wt] = struct{}{}
	w.mu.Unlock()
	return wt.ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if ws := w.m[name]; ws != nil {
			delete(ws, wt)
			if len(ws) == 0 {
				delete(w.m, name)
			}
		}
	}
}

// Changed wakes the Waits on name that a change to incarnation id, now
// ending at tail (final: closed, deleted or removed), concerns.
func (w *Waiters) Changed(name string, id, tail uint64, final bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for wt := range w.m[name] {
		if wt.id != id || tail > wt.pos || final {
			close(wt.ch)
			delete(w.m[name], wt)
		}
	}
}

// WakeAll wakes every Wait, for when notifications may have been lost (a
// reconnection): each looks at its stream again.
func (w *Waiters) WakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, ws := range w.m {
		for wt := range ws {
			close(wt.ch)
		}
		delete(w.m, name)
	}
}
