package durabletest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ssehub/ssehub/durable"
)

// TestNodes runs the contract of a distributed store: two nodes (two
// stores opened on the same backing service and namespace) see one set of
// streams. open returns both; TestNodes closes them.
func TestNodes(t *testing.T, open func(t *testing.T) (a, b durable.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b durable.Store)
	}{
		{"AStreamCreatedOnOneNodeIsReadOnTheOther", testNodesRead},
		{"AnAppendOnOneNodeWakesAWaitOnTheOther", testNodesWake},
		{"ConcurrentAppendsOnBothNodesAreTotallyOrderedAndNoneIsLost", testNodesConcurrent},
		{"IdempotentProducersAreDeduplicatedAcrossNodes", testNodesProducer},
		{"TheStreamLimitHoldsAcrossNodesUnderConcurrentCreates", testNodesStreamLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			t.Cleanup(func() { a.Close(); b.Close() })
			tt.fn(t, a, b)
		})
	}
}

func testNodesRead(t *testing.T, a, b durable.Store) {
	create(t, a, "s", durable.CreateRequest{Data: []byte("one,"), Units: 4})
	add(t, b, "s", "two,")
	add(t, a, "s", "three")
	for _, s := range []durable.Store{a, b} {
		if got := readAll(t, s, "s", 0); got != "one,two,three" {
			t.Fatalf("read = %q, want one,two,three on both nodes", got)
		}
	}
	if _, err := b.Append(ctx(t), "s", durable.AppendRequest{Close: true}); err != nil {
		t.Fatal(err)
	}
	if info, err := a.Stat(ctx(t), "s"); err != nil || !info.Closed {
		t.Fatalf("Stat on the other node after a close = %+v, %v; want closed", info, err)
	}
	if err := a.Delete(ctx(t), "s"); err != nil {
		t.Fatal(err)
	}
	_, err := b.Stat(ctx(t), "s")
	wantErr(t, "Stat on the other node after a delete", err, durable.ErrNotFound)
}

func testNodesWake(t *testing.T, a, b durable.Store) {
	for _, step := range []struct {
		what string
		do   func(name string) error
	}{
		{"an append", func(name string) error { _, err := a.Append(ctx(t), name, bytesReq("x")); return err }},
		{"a close", func(name string) error {
			_, err := a.Append(ctx(t), name, durable.AppendRequest{Close: true})
			return err
		}},
		{"a delete", func(name string) error { return a.Delete(ctx(t), name) }},
	} {
		name := "after " + step.what
		c := create(t, a, name, durable.CreateRequest{})
		waitBlocks(t, b, name, c.ID, c.Tail)
		ch := make(chan error, 1)
		started := make(chan struct{})
		go func() {
			close(started)
			ch <- b.Wait(ctx(t), name, c.ID, c.Tail)
		}()
		<-started
		if err := step.do(name); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		expectWake(t, ch, step.what+" on the other node")
	}
}

func testNodesConcurrent(t *testing.T, a, b durable.Store) {
	create(t, a, "s", durable.CreateRequest{})
	const writers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers*each)
	for n, s := range []durable.Store{a, b} {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					rec := fmt.Sprintf("<%d.%d.%02d>", n, w, i)
					if _, err := s.Append(context.Background(), "s", bytesReq(rec)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}
	got := readAll(t, b, "s", 0)
	recs := strings.SplitAfter(got, ">")
	recs = recs[:len(recs)-1]
	if len(recs) != 2*writers*each {
		t.Fatalf("read %d records, want %d: every append exactly once", len(recs), 2*writers*each)
	}
	// Each writer's own records keep their order; all are distinct.
	last := map[string]string{}
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r] {
			t.Fatalf("record %s twice", r)
		}
		seen[r] = true
		w := r[:5]
		if prev, ok := last[w]; ok && prev > r {
			t.Fatalf("writer %s: %s after %s", w, r, prev)
		}
		last[w] = r
	}
	if other := readAll(t, a, "s", 0); other != got {
		t.Fatalf("the nodes read different orders")
	}
}

func testNodesProducer(t *testing.T, a, b durable.Store) {
	create(t, a, "s", durable.CreateRequest{})
	req := bytesReq("x")
	req.Producer = &durable.Producer{ID: "p", Epoch: 0, Seq: 0}
	if res, err := a.Append(ctx(t), "s", req); err != nil || res.Duplicate {
		t.Fatalf("first append = %+v, %v", res, err)
	}
	res, err := b.Append(ctx(t), "s", req)
	if err != nil || !res.Duplicate {
		t.Fatalf("the same producer append on the other node = %+v, %v; want a duplicate", res, err)
	}
	if got := readAll(t, b, "s", 0); got != "x" {
		t.Fatalf("read = %q, want x once", got)
	}
}

func testNodesStreamLimit(t *testing.T, a, b durable.Store) {
	const limit, tries = 4, 12
	var wg sync.WaitGroup
	errs := make([]error, tries)
	for i := range tries {
		node := []durable.Store{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = node.Create(ctx(t), fmt.Sprintf("s%d", i), limited(limit))
		}()
	}
	wg.Wait()
	created := 0
	for i, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, durable.ErrTooMany):
			t.Fatalf("create s%d: %v, want success or ErrTooMany", i, err)
		}
	}
	if created != limit {
		t.Fatalf("%d of %d concurrent creates on two nodes succeeded under a limit of %d, want exactly %d", created, tries, limit, limit)
	}
	// Room made on one node is seen on the other.
	var victim string
	for i, err := range errs {
		if err == nil {
			victim = fmt.Sprintf("s%d", i)
			break
		}
	}
	// Re-creating an existing stream at the limit is idempotent on either
	// node: it takes no room.
	for _, node := range []durable.Store{a, b} {
		if _, err := node.Create(ctx(t), victim, limited(limit)); err != nil {
			t.Fatalf("an idempotent re-create of %s at the limit: %v", victim, err)
		}
	}
	if err := b.Delete(ctx(t), victim); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create(ctx(t), "after", limited(limit)); err != nil {
		t.Fatalf("a create on one node after a delete on the other: %v", err)
	}
	_, err := b.Create(ctx(t), "over", limited(limit))
	wantErr(t, "a create on the other node once the room is taken", err, durable.ErrTooMany)
}
