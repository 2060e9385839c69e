package hub_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

// publishLarge publishes n updates of size bytes of data on topic "t" and
// waits until a watcher has them all, so that the hub has fanned them out
// (and a replay that starts now covers them).
func publishLarge(t *testing.T, h *hub.Hub, n, size int) {
	t.Helper()
	ctx := context.Background()
	watcher, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	data := strings.Repeat("x", size)
	for i := range n {
		if err := h.Publish(ctx, &hub.Update{ID: strconv.Itoa(int(h.Stats().Published)), Topics: []string{"t"}, Data: data}); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 { // drain as we go: the watcher's queue holds 1000
			receive(t, watcher, 100)
		}
	}
	receive(t, watcher, n%100)
}

func pageBytes(msgs []*hub.Message) int {
	n := 0
	for _, m := range msgs {
		n += len(m.Bytes)
	}
	return n
}

// A replay hands out history one page at a time, bounded in bytes, whether
// the page comes from the hub's cache or from the store, so that a
// subscriber that does not read holds one page and not the history (issue
// 11, finding 4: 1,000 updates of 1 MiB cost 1.3 GiB per such subscriber).
func TestDrain_ReplayHandsOutOnePageBoundedInBytes(t *testing.T) {
	const (
		updates   = 120
		size      = 32 << 10
		pageBound = 128 << 10
	)
	for _, tt := range []struct {
		name  string
		cache int
	}{
		{"from the cache", 0},
		{"from the store", -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := memory.New(memory.Options{MaxUpdates: 10000})
			t.Cleanup(func() { st.Close() })
			h := newHub(t, hub.Config{Store: st, ReplayCache: tt.cache, PageBytes: pageBound})
			publishLarge(t, h, updates, size)
			s, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Selectors: []string{"t"}, Replay: &hub.Replay{Earliest: true}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, pages := 0, 0
			for s.Replaying() {
				msgs, err := s.Drain(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				// One update may straddle the bound; never a second one.
				if b := pageBytes(msgs); b >= pageBound+size+256 {
					t.Fatalf("page %d holds %d bytes (%d updates), want under %d + one update", pages, b, len(msgs), pageBound)
				}
				if held := h.Stats().ReplayBytes; held != int64(pageBytes(msgs)) {
					t.Fatalf("Stats.ReplayBytes = %d after a page of %d bytes, want the page", held, pageBytes(msgs))
				}
				got += len(msgs)
				pages++
			}
			if got != updates {
				t.Fatalf("replayed %d updates, want %d", got, updates)
			}
			if pages < updates*size/pageBound {
				t.Fatalf("replayed in %d pages, want at least %d", pages, updates*size/pageBound)
			}
			if _, err := s.Drain(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			if held := h.Stats().ReplayBytes; held != 0 {
				t.Fatalf("Stats.ReplayBytes = %d once the replay is over, want 0", held)
			}
		})
	}
}

// Live updates queued for a subscriber are handed out a page at a time as
// well: a writer copies a page, not the whole queue.
func TestDrain_LiveQueueHandsOutOnePageBoundedInBytes(t *testing.T) {
	const (
		updates   = 40
		size      = 32 << 10
		pageBound = 64 << 10
	)
	h := newHub(t, hub.Config{PageBytes: pageBound})
	s, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Selectors: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	publishLarge(t, h, updates, size) // s reads nothing meanwhile
	got := 0
	for got < updates {
		msgs, err := s.Receive(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if b := pageBytes(msgs); b >= pageBound+size+256 {
			t.Fatalf("a drain of the live queue handed out %d bytes (%d updates), want under %d + one update", b, len(msgs), pageBound)
		}
		got += len(msgs)
	}
}

// A subscriber whose Last-Event-ID was trimmed from history gets, with
// OrEarliest, everything still in history, and ReplayFound says the id was
// not found; without it, nothing.
func TestSubscribe_TrimmedIDReplaysWhatIsLeftWithOrEarliest(t *testing.T) {
	st := memory.New(memory.Options{MaxUpdates: 5})
	t.Cleanup(func() { st.Close() })
	h := newHub(t, hub.Config{Store: st})
	for range 8 { // ids 0…7, one at a time so that the follower sees each; 0, 1 and 2 trimmed
		publishLarge(t, h, 1, 10)
	}
	for _, tt := range []struct {
		name       string
		orEarliest bool
		want       int
	}{
		{"with OrEarliest", true, 5},
		{"without", false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Selectors: []string{"t"},
				Replay: &hub.Replay{AfterID: "1", OrEarliest: tt.orEarliest}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.ReplayFound() {
				t.Fatal("ReplayFound for a trimmed id")
			}
			var got []*hub.Message
			for s.Replaying() {
				if got, err = s.Drain(context.Background(), got); err != nil {
					t.Fatal(err)
				}
			}
			if len(got) != tt.want || tt.want > 0 && got[0].Update.ID != "3" {
				t.Fatalf("replayed %d updates, want %d from id 3", len(got), tt.want)
			}
		})
	}
}

// A replay Since a time (the resumption point of an id from another
// history) starts after the newest update published at or before it.
func TestSubscribe_SinceReplaysWhatWasPublishedAfterATime(t *testing.T) {
	h := newHub(t, hub.Config{})
	base := time.Unix(1_000_000, 0)
	ctx := context.Background()
	watcher, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	for i := range 10 {
		if err := h.Publish(ctx, &hub.Update{ID: strconv.Itoa(i), Topics: []string{"t"}, Time: base.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	receive(t, watcher, 10)
	for _, tt := range []struct {
		name  string
		since time.Duration
		want  string
	}{
		{"between two updates", 4500 * time.Millisecond, "[5 6 7 8 9]"},
		{"at an update", 4 * time.Second, "[5 6 7 8 9]"},
		{"before every update", -time.Second, "[0 1 2 3 4 5 6 7 8 9]"},
		{"after every update", 20 * time.Second, "[]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"t"},
				Replay: &hub.Replay{AfterID: "elsewhere", Since: base.Add(tt.since), OrEarliest: true}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ids := []string{}
			for s.Replaying() {
				msgs, err := s.Drain(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range msgs {
					ids = append(ids, m.Update.ID)
				}
			}
			if got := fmt.Sprint(ids); got != tt.want {
				t.Fatalf("replayed %s, want %s", got, tt.want)
			}
		})
	}
}
