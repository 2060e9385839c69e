package hubtest

import (
	"context"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// AppendIDs appends one update per id, on topic "t", failing the test on
// any error.
func AppendIDs(t *testing.T, s hub.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.Append(context.Background(), &hub.Update{ID: id, Topics: []string{"t"}}); err != nil {
			t.Fatalf("Append(%q): %v", id, err)
		}
	}
}

// ReadIDs returns the ids of the first 100 updates in history.
func ReadIDs(t *testing.T, s hub.Store) []string {
	t.Helper()
	ups, err := s.Read(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range ups {
		ids = append(ids, u.ID)
	}
	return ids
}

// Follow runs s.Follow from afterSeq until the test ends and returns the
// channel of the updates it delivers (buffered for 10,000).
func Follow(t *testing.T, s hub.Store, afterSeq uint64) <-chan *hub.Update {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan *hub.Update, 10000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Follow(ctx, afterSeq, func(u *hub.Update) error { ch <- u; return nil })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ch
}
