package memory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/hubtest"
	"github.com/ssehub/ssehub/idempotency"
	"github.com/ssehub/ssehub/idempotency/idempotencytest"
	"github.com/ssehub/ssehub/store/memory"
)

func TestStore(t *testing.T) {
	hubtest.TestStore(t, func(t *testing.T) hub.Store { return memory.New(memory.Options{}) })
}

func TestIdempotency(t *testing.T) {
	idempotencytest.TestStore(t, func(t *testing.T) idempotency.Store { return memory.New(memory.Options{}) })
}

// TestStore_DuplicatedIDWhoseEarliestIsTrimmedResolvesToTheNext: once the
// earliest occurrence of an id leaves history, Lookup answers the next one.
func TestStore_DuplicatedIDWhoseEarliestIsTrimmedResolvesToTheNext(t *testing.T) {
	s := memory.New(memory.Options{MaxUpdates: 3})
	defer s.Close()
	hubtest.AppendIDs(t, s, "d", "x", "d")
	ups, _ := s.Read(context.Background(), 0, 10)
	if seq, err := s.Lookup(context.Background(), "d"); err != nil || seq != ups[0].Seq {
		t.Fatalf("Lookup(d) = %d, %v; want the first, %d", seq, err, ups[0].Seq)
	}
	hubtest.AppendIDs(t, s, "y") // trims the first d
	if seq, err := s.Lookup(context.Background(), "d"); err != nil || seq != ups[2].Seq {
		t.Fatalf("Lookup(d) after the first was trimmed = %d, %v; want the second, %d", seq, err, ups[2].Seq)
	}
}

func TestStore_HistoryTrimmedByCount(t *testing.T) {
	s := memory.New(memory.Options{MaxUpdates: 3})
	defer s.Close()
	ctx := context.Background()
	for i := range 5 {
		if err := s.Append(ctx, &hub.Update{ID: fmt.Sprint(i), Topics: []string{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.Read(ctx, 0, 10)
	if len(got) != 3 || got[0].ID != "2" {
		t.Fatalf("Read = %d updates from %q, want 3 from \"2\"", len(got), got[0].ID)
	}
	if _, err := s.Lookup(ctx, "1"); !errors.Is(err, hub.ErrUnknownID) {
		t.Fatalf("Lookup(trimmed) = %v, want ErrUnknownID", err)
	}
}

func TestStore_HistoryTrimmedByAge(t *testing.T) {
	now := time.Unix(1000, 0)
	s := memory.New(memory.Options{MaxAge: time.Minute, Now: func() time.Time { return now }})
	defer s.Close()
	ctx := context.Background()
	s.Append(ctx, &hub.Update{ID: "old", Topics: []string{"t"}})
	now = now.Add(2 * time.Minute)
	s.Append(ctx, &hub.Update{ID: "new", Topics: []string{"t"}})
	got, _ := s.Read(ctx, 0, 10)
	if len(got) != 1 || got[0].ID != "new" {
		t.Fatalf("Read = %v, want only \"new\"", len(got))
	}
}

func TestStore_NoHistoryStillFeedsFollowers(t *testing.T) {
	s := memory.New(memory.Options{MaxUpdates: -1})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Append(ctx, &hub.Update{ID: "a", Topics: []string{"t"}})
	if got, _ := s.Read(ctx, 0, 10); len(got) != 0 {
		t.Fatalf("Read without history = %d updates", len(got))
	}
	got := make(chan string, 1)
	go s.Follow(ctx, 0, func(u *hub.Update) error { got <- u.ID; return errors.New("stop") })
	select {
	case id := <-got:
		if id != "a" {
			t.Fatalf("followed %q", id)
		}
	case <-ctx.Done():
		t.Fatal("follower got nothing")
	}
}

func TestStore_HistoryIsBoundedInBytes(t *testing.T) {
	hubtest.TestByteBound(t, func(t *testing.T, maxBytes int64) hub.Store {
		s := memory.New(memory.Options{MaxBytes: maxBytes})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
