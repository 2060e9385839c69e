package hub_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

const timeout = 10 * time.Second

func newHub(t testing.TB, cfg hub.Config) *hub.Hub {
	t.Helper()
	if cfg.Store == nil {
		st := memory.New(memory.Options{MaxUpdates: 100000})
		t.Cleanup(func() { st.Close() })
		cfg.Store = st
	}
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func receive(t *testing.T, s *hub.Subscription, n int) []*hub.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got []*hub.Message
	for len(got) < n {
		var err error
		if got, err = s.Receive(ctx, got); err != nil {
			t.Fatalf("Receive after %d of %d: %v", len(got), n, err)
		}
	}
	return got
}

func TestMatcher_SelectorKinds(t *testing.T) {
	var m hub.Matcher
	cases := []struct {
		sel, topic string
		want       bool
	}{
		{"*", "anything", true},
		{"https://e.com/a", "https://e.com/a", true},
		{"https://e.com/a", "https://e.com/b", false},
		{"https://e.com/books/{id}", "https://e.com/books/1", true},
		{"https://e.com/books/{id}", "https://e.com/books/1/x", false},
		{"https://e.com/books/{id}", "https://e.com/books/{id}", true},
		{"https://e.com/{+path}", "https://e.com/a/b/c", true},
		{"https://e.com/u/{?topic}", "https://e.com/u/?topic=x", true},
		{"{broken", "{broken", true},
		{"{broken", "other", false},
	}
	for _, c := range cases {
		for range 2 { // second time from the cache
			if got := m.Match(c.sel, c.topic); got != c.want {
				t.Errorf("Match(%q, %q) = %v, want %v", c.sel, c.topic, got, c.want)
			}
		}
	}
	if err := hub.ValidateSelector("{broken"); err == nil {
		t.Error("ValidateSelector({broken) = nil")
	}
}

func TestPublish_RefusesInvalidUpdates(t *testing.T) {
	h := newHub(t, hub.Config{})
	for _, u := range []*hub.Update{
		{ID: "a"},
		{ID: "a\nb", Topics: []string{"t"}},
		{ID: "x", Type: "a\rb", Topics: []string{"t"}},
	} {
		if err := h.Publish(context.Background(), u); !errors.Is(err, hub.ErrInvalidUpdate) {
			t.Errorf("Publish(%+v) = %v, want ErrInvalidUpdate", u, err)
		}
	}
}

// TestSubscribe_ReplaySeamHasNoGapNorDuplicate subscribes with a replay
// while publishers are busy: every update after the last seen one arrives
// exactly once, in order.
func TestSubscribe_ReplaySeamHasNoGapNorDuplicate(t *testing.T) {
	h := newHub(t, hub.Config{QueueSize: 100000})
	ctx := context.Background()
	const total = 2000
	for i := range 10 {
		if err := h.Publish(ctx, &hub.Update{ID: strconv.Itoa(i), Topics: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 10; i < total; i++ {
			h.Publish(ctx, &hub.Update{ID: strconv.Itoa(i), Topics: []string{"t"}})
		}
	}()
	var subs []*hub.Subscription
	for range 5 {
		s, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"t"}, Replay: &hub.Replay{AfterID: "4"}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, s)
	}
	wg.Wait()
	for _, s := range subs {
		got := receive(t, s, total-5)
		for i, m := range got {
			if want := strconv.Itoa(i + 5); m.Update.ID != want {
				t.Fatalf("message %d is %q, want %q", i, m.Update.ID, want)
			}
		}
	}
}

func TestSubscribe_SlowConsumerEndedPublisherNotBlocked(t *testing.T) {
	h := newHub(t, hub.Config{QueueSize: 4})
	ctx := context.Background()
	s, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := h.Publish(ctx, &hub.Update{Topics: []string{"t"}, Data: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-s.Done():
	case <-time.After(timeout):
		t.Fatal("slow subscription not ended")
	}
	if !errors.Is(s.Err(), hub.ErrSlowConsumer) || h.Stats().SlowConsumers != 1 || h.Stats().Subscribers != 0 {
		t.Fatalf("Err = %v, stats = %+v", s.Err(), h.Stats())
	}
}

func TestSubscribe_PrivateNeedsAuthorization(t *testing.T) {
	h := newHub(t, hub.Config{})
	ctx := context.Background()
	anon, _ := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"*"}})
	auth, _ := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"*"}, Private: []string{"https://e.com/users/{u}"}})
	defer anon.Close()
	defer auth.Close()
	h.Publish(ctx, &hub.Update{ID: "p", Topics: []string{"https://e.com/b/1", "https://e.com/users/kim"}, Private: true})
	h.Publish(ctx, &hub.Update{ID: "pub", Topics: []string{"x"}})
	if got := receive(t, anon, 1); got[0].Update.ID != "pub" {
		t.Fatalf("anonymous got %q first", got[0].Update.ID)
	}
	if got := receive(t, auth, 2); got[0].Update.ID != "p" {
		t.Fatalf("authorized got %q first", got[0].Update.ID)
	}
}

func TestClose_EndsSubscriptionsWithErrClosed(t *testing.T) {
	h := newHub(t, hub.Config{})
	s, _ := h.Subscribe(context.Background(), hub.SubscribeRequest{Selectors: []string{"*"}})
	h.Close()
	<-s.Done()
	if !errors.Is(s.Err(), hub.ErrClosed) {
		t.Fatalf("Err = %v", s.Err())
	}
	if _, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Selectors: []string{"*"}}); !errors.Is(err, hub.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v", err)
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("https://e.com/{id}", "https://e.com/1")
	f.Add("*", "x")
	f.Add("{+a}{?b,c}{#d}", "/x?b=1")
	f.Add("{", "{")
	f.Fuzz(func(t *testing.T, sel, topic string) {
		var m hub.Matcher
		got := m.Match(sel, topic)
		if sel == topic || sel == "*" {
			if !got {
				t.Fatalf("Match(%q, %q) = false for an equal or * selector", sel, topic)
			}
		}
		if m.Match(sel, topic) != got {
			t.Fatal("cached result differs")
		}
	})
}

// A replay whose history is trimmed away before it is read must hand over
// to the live queue instead of re-reading the same page for ever.
func TestSubscribe_ReplayWhoseHistoryWasTrimmedHandsOverToLive(t *testing.T) {
	st := memory.New(memory.Options{MaxUpdates: 4})
	t.Cleanup(func() { st.Close() })
	// Without the replay cache, which would still hold what the store
	// trimmed.
	h := newHub(t, hub.Config{Store: st, QueueSize: 1000, ReplayPageSize: 4, ReplayCache: -1})
	ctx := context.Background()
	// A live watcher receiving an update proves the follower dispatched it.
	watcher, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	// One at a time, so that the follower sees every update before the
	// store trims it.
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			if err := h.Publish(ctx, &hub.Update{ID: strconv.Itoa(i), Topics: []string{"t"}}); err != nil {
				t.Fatal(err)
			}
			receive(t, watcher, 1)
		}
	}
	publish(0, 4)
	s, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"t"}, Replay: &hub.Replay{AfterID: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Trim everything the replay was going to read.
	publish(4, 12)
	got := receive(t, s, 8)
	for i, m := range got {
		if want := strconv.Itoa(i + 4); m.Update.ID != want {
			t.Fatalf("message %d is %q, want %q", i, m.Update.ID, want)
		}
	}
}

// gatedStore holds back its follower until the test opens the gate, as a
// busy node whose fan-out lags behind publishing does.
type gatedStore struct {
	*memory.Store
	gate chan struct{}
}

func (g *gatedStore) Follow(ctx context.Context, after uint64, fn func(*hub.Update) error) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Store.Follow(ctx, after, fn)
}

func TestSubscribe_GetsNothingAcknowledgedBeforeIt(t *testing.T) {
	st := &gatedStore{Store: memory.New(memory.Options{}), gate: make(chan struct{})}
	t.Cleanup(func() { st.Close() })
	h := newHub(t, hub.Config{Store: st})
	ctx := context.Background()
	for i := range 3 {
		if err := h.Publish(ctx, &hub.Update{ID: fmt.Sprint("before-", i), Topics: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	close(st.gate) // the lagging fan-out now dispatches the three
	if err := h.Publish(ctx, &hub.Update{ID: "after", Topics: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, s, 1); got[0].Update.ID != "after" {
		t.Fatalf("the subscription got %q first, published before it", got[0].Update.ID)
	}
}

// failingReads is a store whose history cannot be read, as a store that is
// away: only the hub's cache can serve a replay.
type failingReads struct{ *memory.Store }

func (failingReads) Read(context.Context, uint64, int) ([]*hub.Update, error) {
	return nil, errors.New("store away")
}

func TestSubscribe_RecentHistoryIsReplayedFromTheCache(t *testing.T) {
	st := failingReads{memory.New(memory.Options{})}
	t.Cleanup(func() { st.Close() })
	h := newHub(t, hub.Config{Store: st, ReplayPageSize: 3})
	ctx := context.Background()
	watcher, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	for i := range 10 {
		topic := "a"
		if i%2 == 1 {
			topic = "b"
		}
		if err := h.Publish(ctx, &hub.Update{ID: strconv.Itoa(i), Topics: []string{topic}}); err != nil {
			t.Fatal(err)
		}
	}
	first := receive(t, watcher, 10)
	s, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"a"}, Replay: &hub.Replay{AfterID: "2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := receive(t, s, 3)
	var ids []string
	for _, m := range got {
		ids = append(ids, m.Update.ID)
	}
	if fmt.Sprint(ids) != "[4 6 8]" {
		t.Fatalf("replayed %v, want [4 6 8]", ids)
	}
	// The very bytes the live fan-out encoded: nothing was encoded again.
	if &got[0].Bytes[0] != &first[4].Bytes[0] {
		t.Fatal("the replay encoded the update again")
	}
}
