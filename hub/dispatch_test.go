package hub_test

import (
	"context"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// blocking is a compiled selector whose matches wait for release, to
// catch the hub matching while it holds a lock others need.
type blocking struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blocking) Match(string) bool {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return true
}

func (b *blocking) Bytes() int { return 0 }

func TestDispatch_MatchesTemplatesOutsideTheHubLock(t *testing.T) {
	h := newHub(t, hub.Config{})
	ctx := context.Background()
	b := &blocking{entered: make(chan struct{}, 1), release: make(chan struct{})}
	const slow = "https://e.com/{slow}"
	if err := hub.CacheSelector(h, slow, b); err != nil {
		t.Fatal(err)
	}
	hostile, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{slow}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Publish(ctx, &hub.Update{Topics: []string{"https://e.com/1"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the follower never matched the template")
	}
	// The follower is inside a match: the hub must still serve everyone.
	done := make(chan struct{})
	go func() {
		defer close(done)
		other, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"https://e.com/2"}})
		if err != nil {
			t.Error(err)
			return
		}
		other.Close()
		h.Stats()
		h.Subscriptions()
		if err := h.Publish(ctx, &hub.Update{Topics: []string{"https://e.com/3"}}); err != nil {
			t.Error(err)
		}
		hostile.Close()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Subscribe, Close, Stats or Publish waited for a template match")
	}
	close(b.release)
}
