// Package hubtest holds conformance tests that every hub.Store must pass.
// A store package runs them from its own tests:
//
//	func TestStore(t *testing.T) {
//		hubtest.TestStore(t, func(t *testing.T) hub.Store { return open(t) })
//	}
package hubtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// Timeout bounds every wait of the conformance tests.
const Timeout = 10 * time.Second

// TestStore runs the Store conformance tests. open must return a new, empty
// store keeping at least 1000 updates of history; TestStore closes it.
func TestStore(t *testing.T, open func(t *testing.T) hub.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s hub.Store)
	}{
		{"AppendAssignsIncreasingSeq", testAppendSeq},
		{"AppendDuplicateIDStoresItToo", testAppendDuplicate},
		{"LookupOfADuplicatedIDIsItsEarliestOccurrence", testLookupDuplicate},
		{"LookupKnownAndUnknown", testLookup},
		{"ReadFromStartAfterAndLimit", testRead},
		{"LastOfEmptyAndFilled", testLast},
		{"FollowDeliversHistoryThenNewInOrder", testFollow},
		{"FollowStopsWhenContextEnds", testFollowCancel},
		{"ConcurrentAppendsGetDistinctSeqs", testConcurrentAppend},
		{"ClosedStoreRefusesEverything", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	return c
}

func appendN(t *testing.T, s hub.Store, n int) []*hub.Update {
	t.Helper()
	var out []*hub.Update
	for i := range n {
		u := &hub.Update{ID: fmt.Sprintf("id-%d", i), Topics: []string{"t"}, Data: fmt.Sprint(i), Time: time.Now()}
		if err := s.Append(ctx(t), u); err != nil {
			t.Fatalf("Append(%q): %v", u.ID, err)
		}
		out = append(out, u)
	}
	return out
}

func testAppendSeq(t *testing.T, s hub.Store) {
	ups := appendN(t, s, 5)
	for i := 1; i < len(ups); i++ {
		if ups[i].Seq <= ups[i-1].Seq || ups[0].Seq == 0 {
			t.Fatalf("Seqs not strictly increasing from 1+: %d then %d", ups[i-1].Seq, ups[i].Seq)
		}
	}
}

func testAppendDuplicate(t *testing.T, s hub.Store) {
	ups := appendN(t, s, 2)
	dup := &hub.Update{ID: ups[0].ID, Topics: []string{"t"}, Data: "other", Time: time.Now()}
	if err := s.Append(ctx(t), dup); err != nil {
		t.Fatalf("Append(duplicate id) = %v, want it stored", err)
	}
	if dup.Seq <= ups[1].Seq {
		t.Errorf("duplicate Seq = %d, want a new one after %d", dup.Seq, ups[1].Seq)
	}
	got, err := s.Read(ctx(t), 0, 10)
	if err != nil || len(got) != 3 || got[2].ID != ups[0].ID || got[2].Data != "other" {
		t.Fatalf("Read after duplicate = %v, %v; want id-0 id-1 id-0(other)", ids(got), err)
	}
}

// testLookupDuplicate: draft-dunglas-mercure-08 §"Reconnection, State
// Reconciliation and Event Sourcing" resolves a Last-Event-ID naming a
// duplicated id to its earliest occurrence.
func testLookupDuplicate(t *testing.T, s hub.Store) {
	var seqs []uint64
	for _, id := range []string{"dup", "other", "dup", "dup"} {
		u := &hub.Update{ID: id, Topics: []string{"t"}, Time: time.Now()}
		if err := s.Append(ctx(t), u); err != nil {
			t.Fatalf("Append(%q): %v", id, err)
		}
		seqs = append(seqs, u.Seq)
	}
	if seq, err := s.Lookup(ctx(t), "dup"); err != nil || seq != seqs[0] {
		t.Fatalf("Lookup(dup) = %d, %v; want the earliest, %d", seq, err, seqs[0])
	}
}

func testLookup(t *testing.T, s hub.Store) {
	ups := appendN(t, s, 3)
	seq, err := s.Lookup(ctx(t), "id-1")
	if err != nil || seq != ups[1].Seq {
		t.Fatalf("Lookup(id-1) = %d, %v; want %d", seq, err, ups[1].Seq)
	}
	if _, err := s.Lookup(ctx(t), "nope"); !errors.Is(err, hub.ErrUnknownID) {
		t.Fatalf("Lookup(nope) = %v, want ErrUnknownID", err)
	}
}

func testRead(t *testing.T, s hub.Store) {
	if got, err := s.Read(ctx(t), 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("Read(empty) = %d, %v", len(got), err)
	}
	ups := appendN(t, s, 5)
	got, err := s.Read(ctx(t), 0, 100)
	if err != nil || len(got) != 5 {
		t.Fatalf("Read(0) = %d, %v; want 5", len(got), err)
	}
	for i, u := range got {
		if u.ID != ups[i].ID || u.Seq != ups[i].Seq || u.Data != ups[i].Data || u.Topics[0] != "t" {
			t.Errorf("Read(0)[%d] = %+v, want %+v", i, u, ups[i])
		}
	}
	got, _ = s.Read(ctx(t), ups[1].Seq, 2)
	if len(got) != 2 || got[0].ID != "id-2" || got[1].ID != "id-3" {
		t.Fatalf("Read(after id-1, 2) = %v", ids(got))
	}
	if got, _ = s.Read(ctx(t), ups[4].Seq, 10); len(got) != 0 {
		t.Fatalf("Read(after last) = %v, want none", ids(got))
	}
}

func ids(ups []*hub.Update) []string {
	var out []string
	for _, u := range ups {
		out = append(out, u.ID)
	}
	return out
}

func testLast(t *testing.T, s hub.Store) {
	if u, err := s.Last(ctx(t)); err != nil || u != nil {
		t.Fatalf("Last(empty) = %v, %v; want nil", u, err)
	}
	appendN(t, s, 3)
	if u, err := s.Last(ctx(t)); err != nil || u == nil || u.ID != "id-2" {
		t.Fatalf("Last = %v, %v; want id-2", u, err)
	}
}

func testFollow(t *testing.T, s hub.Store) {
	ups := appendN(t, s, 3)
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	got := make(chan *hub.Update, 100)
	errc := make(chan error, 1)
	go func() {
		errc <- s.Follow(c, ups[0].Seq, func(u *hub.Update) error { got <- u; return nil })
	}()
	more := &hub.Update{ID: "later", Topics: []string{"t"}, Time: time.Now()}
	if err := s.Append(ctx(t), more); err != nil {
		t.Fatal(err)
	}
	want := []string{"id-1", "id-2", "later"}
	for _, w := range want {
		select {
		case u := <-got:
			if u.ID != w {
				t.Fatalf("Follow delivered %q, want %q", u.ID, w)
			}
		case <-time.After(Timeout):
			t.Fatalf("Follow did not deliver %q", w)
		}
	}
	cancel()
	select {
	case <-errc:
	case <-time.After(Timeout):
		t.Fatal("Follow did not return after cancel")
	}
}

func testFollowCancel(t *testing.T, s hub.Store) {
	c, cancel := context.WithCancel(ctx(t))
	errc := make(chan error, 1)
	go func() { errc <- s.Follow(c, 0, func(*hub.Update) error { return nil }) }()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Follow after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(Timeout):
		t.Fatal("Follow did not return after cancel")
	}
}

func testConcurrentAppend(t *testing.T, s hub.Store) {
	const writers, each = 8, 50
	var wg sync.WaitGroup
	seqs := make(chan uint64, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				u := &hub.Update{ID: fmt.Sprintf("w%d-%d", w, i), Topics: []string{"t"}, Time: time.Now()}
				if err := s.Append(context.Background(), u); err != nil {
					t.Error(err)
					return
				}
				seqs <- u.Seq
			}
		}()
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for q := range seqs {
		if seen[q] {
			t.Fatalf("Seq %d assigned twice", q)
		}
		seen[q] = true
	}
	got, _ := s.Read(ctx(t), 0, writers*each+1)
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("Read out of order at %d", i)
		}
	}
	if len(got) != writers*each {
		t.Fatalf("Read = %d updates, want %d", len(got), writers*each)
	}
}

func testClosed(t *testing.T, s hub.Store) {
	appendN(t, s, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx(t), &hub.Update{ID: "x", Topics: []string{"t"}}); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Read(ctx(t), 0, 1); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Read after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Lookup(ctx(t), "id-0"); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Lookup after Close = %v, want ErrClosed", err)
	}
	if err := s.Follow(ctx(t), 0, func(*hub.Update) error { return nil }); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Follow after Close = %v, want ErrClosed", err)
	}
}
