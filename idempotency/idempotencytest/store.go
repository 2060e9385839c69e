// Package idempotencytest holds the conformance tests every
// idempotency.Store must pass. A backend runs them from its own tests:
//
//	func TestIdempotency(t *testing.T) {
//		idempotencytest.TestStore(t, func(t *testing.T) idempotency.Store { return open(t) })
//	}
package idempotencytest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/idempotency"
)

// Timeout bounds every wait of the tests.
const Timeout = 10 * time.Second

// TestStore runs the Store conformance tests. open returns a store with no
// record of the keys the tests use (they are unique per call of TestStore).
func TestStore(t *testing.T, open func(t *testing.T) idempotency.Store) {
	prefix := fmt.Sprintf("test-%d-", time.Now().UnixNano())
	tests := []struct {
		name string
		fn   func(t *testing.T, s idempotency.Store, key string)
	}{
		{"AClaimedKeyIsHeldWithItsRecord", testClaim},
		{"SetKeyRecordsTheAnswer", testSet},
		{"ADeletedKeyCanBeClaimedAgain", testDelete},
		{"AnExpiredRecordIsAsGoodAsAbsent", testExpired},
		{"OfConcurrentClaimsExactlyOneWins", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t), prefix+tt.name) })
	}
}

// TestTwoNodes checks two stores on one shared backend, as two hub nodes
// use it: a key claimed and answered through one is held, with its answer,
// through the other, and concurrent claims through both have one winner.
func TestTwoNodes(t *testing.T, a, b idempotency.Store) {
	t.Helper()
	key := fmt.Sprintf("two-nodes-%d", time.Now().UnixNano())
	if held, err := a.ClaimKey(ctx(t), key, rec("fp", time.Minute)); err != nil || held != nil {
		t.Fatalf("ClaimKey on a = %+v, %v; want it claimed", held, err)
	}
	if held, err := b.ClaimKey(ctx(t), key, rec("fp", time.Minute)); err != nil || held == nil || held.Done {
		t.Fatalf("ClaimKey on b while a holds it = %+v, %v; want a's claim in flight", held, err)
	}
	done := idempotency.Record{Fingerprint: "fp", Done: true, Status: 200, Body: "urn:1", Until: time.Now().Add(time.Minute)}
	if err := a.SetKey(ctx(t), key, done); err != nil {
		t.Fatal(err)
	}
	if held, err := b.ClaimKey(ctx(t), key, rec("fp", time.Minute)); err != nil || held == nil || !held.Done || held.Body != "urn:1" {
		t.Fatalf("ClaimKey on b after a answered = %+v, %v; want a's answer", held, err)
	}
	race(t, key+"-race", a, b)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	return c
}

func rec(fp string, keep time.Duration) idempotency.Record {
	return idempotency.Record{Fingerprint: fp, Until: time.Now().Add(keep)}
}

func testClaim(t *testing.T, s idempotency.Store, key string) {
	if held, err := s.ClaimKey(ctx(t), key, rec("fp-1", time.Minute)); err != nil || held != nil {
		t.Fatalf("first ClaimKey = %+v, %v; want it claimed", held, err)
	}
	held, err := s.ClaimKey(ctx(t), key, rec("fp-2", time.Minute))
	if err != nil || held == nil || held.Fingerprint != "fp-1" || held.Done {
		t.Fatalf("second ClaimKey = %+v, %v; want the first claim, in flight", held, err)
	}
}

func testSet(t *testing.T, s idempotency.Store, key string) {
	if _, err := s.ClaimKey(ctx(t), key, rec("fp", time.Minute)); err != nil {
		t.Fatal(err)
	}
	want := idempotency.Record{Fingerprint: "fp", Done: true, Status: 200, Body: "urn:answer", Until: time.Now().Add(time.Hour)}
	if err := s.SetKey(ctx(t), key, want); err != nil {
		t.Fatal(err)
	}
	held, err := s.ClaimKey(ctx(t), key, rec("fp", time.Minute))
	if err != nil || held == nil || !held.Done || held.Status != 200 || held.Body != "urn:answer" || held.Until.Sub(want.Until).Abs() > time.Second {
		t.Fatalf("ClaimKey after SetKey = %+v, %v; want %+v", held, err, want)
	}
}

func testDelete(t *testing.T, s idempotency.Store, key string) {
	if _, err := s.ClaimKey(ctx(t), key, rec("fp", time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteKey(ctx(t), key); err != nil {
		t.Fatal(err)
	}
	if held, err := s.ClaimKey(ctx(t), key, rec("fp", time.Minute)); err != nil || held != nil {
		t.Fatalf("ClaimKey after DeleteKey = %+v, %v; want it claimed", held, err)
	}
	if err := s.DeleteKey(ctx(t), key+"-never-claimed"); err != nil {
		t.Fatalf("DeleteKey of an unknown key = %v", err)
	}
}

func testExpired(t *testing.T, s idempotency.Store, key string) {
	if _, err := s.ClaimKey(ctx(t), key, rec("old", 50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// Bounded wait for the clock to pass Until (50 ms); no fixed sleep.
	deadline := time.Now().Add(Timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		held, err := s.ClaimKey(ctx(t), key, rec("new", time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if held == nil {
			break
		}
		if held.Fingerprint != "old" || time.Now().After(deadline) {
			t.Fatalf("ClaimKey after the record expired = %+v; want it claimed", held)
		}
		<-tick.C
	}
	if held, _ := s.ClaimKey(ctx(t), key, rec("other", time.Minute)); held == nil || held.Fingerprint != "new" {
		t.Fatalf("ClaimKey after the reclaim = %+v; want the new claim", held)
	}
}

func testConcurrent(t *testing.T, s idempotency.Store, key string) {
	race(t, key, s, s)
}

// race claims key 16 times concurrently, alternately through a and b, and
// checks that exactly one claim won.
func race(t *testing.T, key string, a, b idempotency.Store) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, errs := 0, []error(nil)
	for i := range 16 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			held, err := s.ClaimKey(ctx(t), key, rec(fmt.Sprint("fp-", i), time.Minute))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case held == nil:
				won++
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 || won != 1 {
		t.Fatalf("%d of 16 concurrent claims won (errors: %v), want exactly 1", won, errs)
	}
}
