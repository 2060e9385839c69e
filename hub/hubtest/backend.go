package hubtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// backendWait bounds the waits of the checks below.
const backendWait = 15 * time.Second

// TestTrimmed appends updates a, b, c and d to s, calls advance (which
// moves the store's clock, or waits until its server has expired them),
// appends e, and checks that the history is then want, that a, trimmed, is
// unknown to Lookup, and that a duplicated id whose earliest occurrence was
// trimmed resolves to the next one still in history.
func TestTrimmed(t *testing.T, s hub.Store, advance func(), want ...string) {
	t.Helper()
	AppendIDs(t, s, "a", "b", "c", "d")
	advance()
	AppendIDs(t, s, "e")
	if got := fmt.Sprint(ReadIDs(t, s)); got != fmt.Sprint(want) {
		t.Fatalf("history = %s, want %v", got, want)
	}
	if _, err := s.Lookup(context.Background(), "a"); !errors.Is(err, hub.ErrUnknownID) {
		t.Fatalf("Lookup(trimmed) = %v, want ErrUnknownID", err)
	}
	first := &hub.Update{ID: "a", Topics: []string{"t"}}
	if err := s.Append(context.Background(), first); err != nil {
		t.Fatalf("Append(id of a trimmed update) = %v, want it stored again", err)
	}
	if got := ReadIDs(t, s); got[len(got)-1] != "a" {
		t.Fatalf("history = %v, want it to end with a", got)
	}
	seq, err := s.Lookup(context.Background(), "a")
	if err != nil || seq != first.Seq {
		t.Fatalf("Lookup(a stored again) = %d, %v; want %d", seq, err, first.Seq)
	}
}

// TestTwoNodes checks two stores on one shared backend, as two hub nodes
// use it: they see one history in one order, an id stored through both is
// stored twice, and both resolve it to its earliest occurrence.
func TestTwoNodes(t *testing.T, a, b hub.Store) {
	t.Helper()
	AppendIDs(t, a, "x")
	AppendIDs(t, b, "y")
	if err := b.Append(context.Background(), &hub.Update{ID: "x", Topics: []string{"t"}}); err != nil {
		t.Fatalf("Append(x) on the other node = %v, want it stored", err)
	}
	if ga, gb := fmt.Sprint(ReadIDs(t, a)), fmt.Sprint(ReadIDs(t, b)); ga != "[x y x]" || gb != ga {
		t.Fatalf("histories = %s and %s, want [x y x] on both", ga, gb)
	}
	sa, errA := a.Lookup(context.Background(), "x")
	sb, errB := b.Lookup(context.Background(), "x")
	if errA != nil || errB != nil || sa != sb || sa != readFirstSeq(t, a) {
		t.Fatalf("Lookup(x) = %d (%v) and %d (%v), want the first update's Seq on both", sa, errA, sb, errB)
	}
}

// TestOutage follows s while it appends 50 updates, stops its server
// (stop), checks that Append and Health answer ErrUnavailable, starts the
// server again (start), waits until the store is healthy by itself, appends
// 50 more, and checks that the follower got every acknowledged update once,
// in order. s must implement hub.HealthChecker.
func TestOutage(t *testing.T, s hub.Store, stop, start func()) {
	t.Helper()
	hc, ok := s.(hub.HealthChecker)
	if !ok {
		t.Fatalf("%T has no Health method", s)
	}
	got := Follow(t, s, 0)
	ctx := context.Background()
	var acked []string
	publish := func(id string) error {
		err := s.Append(ctx, &hub.Update{ID: id, Topics: []string{"t"}})
		if err == nil {
			acked = append(acked, id)
		}
		return err
	}
	for i := range 50 {
		if err := publish(fmt.Sprint("before-", i)); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if err := publish("during"); !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("Append during the outage = %v, want ErrUnavailable", err)
	}
	if err := hc.Health(ctx); !errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("Health during the outage = %v, want ErrUnavailable", err)
	}
	start()
	deadline := time.Now().Add(backendWait)
	for hc.Health(ctx) != nil { // the client redials by itself
		if time.Now().After(deadline) {
			t.Fatal("store did not become healthy after its server came back")
		}
		time.Sleep(20 * time.Millisecond) // bounded poll: no signal for a redial
	}
	for i := range 50 {
		if err := publish(fmt.Sprint("after-", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range acked {
		select {
		case u := <-got:
			if u.ID != want {
				t.Fatalf("follower's update %d = %q, want %q (no gap, no duplicate)", i, u.ID, want)
			}
		case <-time.After(backendWait):
			t.Fatalf("follower stopped at update %d of %d", i, len(acked))
		}
	}
}

// readFirstSeq returns the Seq of the oldest update in s's history.
func readFirstSeq(t *testing.T, s hub.Store) uint64 {
	t.Helper()
	ups, err := s.Read(context.Background(), 0, 1)
	if err != nil || len(ups) == 0 {
		t.Fatalf("Read(0, 1) = %d updates, %v", len(ups), err)
	}
	return ups[0].Seq
}

// TestByteBound checks that a store opened by open with a byte bound keeps
// its history within it: after 200 updates of 1 KiB of data under a bound
// of 64 KiB, history holds the newest ones, no more data than the bound and
// at least half of what would fit (each store counts its own overhead per
// update, under 1 KiB), and the oldest are unknown to Lookup.
func TestByteBound(t *testing.T, open func(t *testing.T, maxBytes int64) hub.Store) {
	t.Helper()
	const (
		bound   = 64 << 10
		size    = 1 << 10
		updates = 200
	)
	s := open(t, bound)
	data := strings.Repeat("b", size)
	for i := range updates {
		u := &hub.Update{ID: fmt.Sprint("b-", i), Topics: []string{"t"}, Data: data}
		if err := s.Append(context.Background(), u); err != nil {
			t.Fatalf("Append(%q): %v", u.ID, err)
		}
	}
	ups, err := s.Read(context.Background(), 0, updates)
	if err != nil {
		t.Fatal(err)
	}
	kept := len(ups)
	if kept*size > bound || kept < bound/size/2 {
		t.Fatalf("history keeps %d updates of %d bytes under a bound of %d, want between %d and %d", kept, size, bound, bound/size/2, bound/size)
	}
	for i, u := range ups {
		if want := fmt.Sprint("b-", updates-kept+i); u.ID != want {
			t.Fatalf("history[%d] = %q, want %q: the newest updates, in order", i, u.ID, want)
		}
	}
	if _, err := s.Lookup(context.Background(), "b-0"); !errors.Is(err, hub.ErrUnknownID) {
		t.Fatalf("Lookup(trimmed b-0) = %v, want ErrUnknownID", err)
	}
}
