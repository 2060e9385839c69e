package mercure

import (
	"context"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// feed is what a stream's writer consumes: a subscription to the hub, or
// merged, which adds the subscriber's subscription events.
type feed interface {
	Info() hub.SubscriptionInfo
	Ready() <-chan struct{}
	Done() <-chan struct{}
	Err() error
	Drain(ctx context.Context, dst []*hub.Message) ([]*hub.Message, error)
	Replaying() bool
	ReplayFound() bool
	Close()
}

var _ feed = (*hub.Subscription)(nil)

// seamMargin is how far before the other history's resumption point a
// merged replay starts (see replays): updates of the two histories are
// fanned out by two followers, so one published a moment before a
// subscription event may reach a subscriber after it. A subscriber
// resuming from such an id may get again what it got in that last second,
// rather than miss it.
const seamMargin = time.Second

// merged feeds one stream from two subscriptions with the same selectors:
// to the hub's history of updates and to its history of subscription
// events, which is kept apart so that subscription events never push
// updates out of history. Each is in order; the two are interleaved as
// they come.
type merged struct {
	updates, events *hub.Subscription
	ready           chan struct{} // capacity 1
	done            chan struct{}
	notify          func() // the writer pool's, or nil
}

// newMerged returns a merged feed whose Notify (for both subscriptions) is
// m.signal; notify, if not nil, is called on every signal.
func newMerged(notify func()) *merged {
	return &merged{ready: make(chan struct{}, 1), done: make(chan struct{}), notify: notify}
}

// signal is the Notify of both subscriptions.
func (m *merged) signal() {
	select {
	case m.ready <- struct{}{}:
	default:
	}
	if m.notify != nil {
		m.notify()
	}
}

// start watches both subscriptions: the feed is done when either is.
func (m *merged) start() {
	go func() {
		select {
		case <-m.updates.Done():
		case <-m.events.Done():
		}
		close(m.done)
		m.signal()
	}()
}

func (m *merged) Info() hub.SubscriptionInfo { return m.updates.Info() }
func (m *merged) Ready() <-chan struct{}     { return m.ready }
func (m *merged) Done() <-chan struct{}      { return m.done }
func (m *merged) Replaying() bool            { return m.updates.Replaying() || m.events.Replaying() }
func (m *merged) ReplayFound() bool          { return m.updates.ReplayFound() || m.events.ReplayFound() }

// Err is the first subscription's reason to end.
func (m *merged) Err() error {
	if err := m.updates.Err(); err != nil {
		return err
	}
	return m.events.Err()
}

// Drain drains both subscriptions: at most a page of each.
func (m *merged) Drain(ctx context.Context, dst []*hub.Message) ([]*hub.Message, error) {
	dst, err := m.updates.Drain(ctx, dst)
	if err != nil {
		return dst, err
	}
	return m.events.Drain(ctx, dst)
}

// Close ends both subscriptions.
func (m *merged) Close() {
	m.updates.Close()
	m.events.Close()
}

// replays returns the replay requests of a merged feed for a subscriber
// resuming after lastEventID: the history that holds that id replays after
// it, the other from the id's publication time (less seamMargin); an id in
// neither replays both histories, so the response says "earliest".
func (s *Server) replays(ctx context.Context, lastEventID string) (updates, events *hub.Replay) {
	if lastEventID == earliest {
		return &hub.Replay{Earliest: true}, &hub.Replay{Earliest: true}
	}
	updates = &hub.Replay{AfterID: lastEventID, OrEarliest: true}
	events = &hub.Replay{AfterID: lastEventID, OrEarliest: true}
	if u, err := s.hub.Find(ctx, lastEventID); err == nil {
		events.Since = u.Time.Add(-seamMargin)
	} else if e, err := s.events.Find(ctx, lastEventID); err == nil {
		updates.Since = e.Time.Add(-seamMargin)
	}
	return updates, events
}
