// Package durabletest holds the contract tests that every durable.Store
// must pass. A backend runs them from its own tests:
//
//	func TestStreams(t *testing.T) {
//		durabletest.TestStore(t, func(t *testing.T) durable.Store { return open(t) })
//	}
package durabletest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/durable"
)

// Timeout bounds every wait of the contract tests.
const Timeout = 10 * time.Second

// TestStore runs the durable.Store contract. open must return a new,
// empty store; TestStore closes it.
func TestStore(t *testing.T, open func(t *testing.T) durable.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s durable.Store)
	}{
		{"CreateIsIdempotentForTheSameConfigAndConflictsOtherwise", testCreate},
		{"AppendsGetIncreasingPositionsAndReadBackInOrder", testAppendRead},
		{"ReadsAreBoundedByMaxBytesButReturnARecord", testReadLimit},
		{"AReadPastTheTailIsRefused", testReadPastTail},
		{"ClosingIsAtomicWithTheLastAppendAndFinal", testClose},
		{"StreamSeqMustIncrease", testStreamSeq},
		{"IdempotentProducersAreDeduplicatedAndFenced", testProducers},
		{"AProducerCloseIsDeduplicated", testProducerClose},
		{"ContentTypeMustMatchData", testContentType},
		{"DeletedNamesAreReCreatedEmpty", testRecreate},
		{"ForksReadTheSourceThenTheirOwnData", testFork},
		{"ForkSubOffsetsCopyAPrefixOfTheRecord", testForkSubOffset},
		{"DeletingASourceWithForksSoftDeletesItUntilTheLastForkGoes", testSoftDelete},
		{"ExpiredStreamsAreGone", testExpiry},
		{"ReadsRefreshASlidingTTLAndStatDoesNot", testTTLRefresh},
		{"WaitWakesOnAppendCloseAndDelete", testWait},
		{"WaitReturnsAtOnceWhenThereIsNewerData", testWaitNoBlock},
		{"WaitEndsWithItsContext", testWaitCancel},
		{"ConcurrentAppendsAreTotallyOrdered", testConcurrent},
		{"ClosedStoreRefusesEverything", testClosedStore},
		{"TheStreamLimitCountsCreatesAndDeletes", testStreamLimit},
		{"ManyConcurrentCreatesUnderTheLimitAllSucceed", testConcurrentCreates},
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

func text(ct string) durable.StreamConfig {
	return durable.StreamConfig{ContentType: ct, ContentTypeGiven: true}
}

func create(t *testing.T, s durable.Store, name string, req durable.CreateRequest) durable.CreateResult {
	t.Helper()
	if req.ContentType == "" && req.ForkedFrom == "" {
		req.ContentType, req.ContentTypeGiven = "text/plain", true
	}
	res, err := s.Create(ctx(t), name, req)
	if err != nil {
		t.Fatalf("Create(%s): %v", name, err)
	}
	return res
}

func add(t *testing.T, s durable.Store, name, data string) durable.AppendResult {
	t.Helper()
	res, err := s.Append(ctx(t), name, bytesReq(data))
	if err != nil {
		t.Fatalf("Append(%s, %q): %v", name, data, err)
	}
	return res
}

func bytesReq(data string) durable.AppendRequest {
	return durable.AppendRequest{ContentType: "text/plain", Data: []byte(data), Units: uint64(len(data))}
}

// readAll reads name from position from to its tail.
func readAll(t *testing.T, s durable.Store, name string, from uint64) string {
	t.Helper()
	var b strings.Builder
	for {
		res, err := s.Read(ctx(t), name, durable.ReadRequest{From: from, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatalf("Read(%s, %d): %v", name, from, err)
		}
		for _, r := range res.Records {
			if r.Pos != from {
				t.Fatalf("Read(%s): record at %d, want %d (contiguous)", name, r.Pos, from)
			}
			b.Write(r.Data)
			from = r.Pos + r.Units
		}
		if res.Next != from {
			t.Fatalf("Read(%s): Next %d, records end at %d", name, res.Next, from)
		}
		if res.Next == res.Tail {
			return b.String()
		}
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func testCreate(t *testing.T, s durable.Store) {
	res := create(t, s, "a", durable.CreateRequest{StreamConfig: text("text/plain"), Data: []byte("hi"), Units: 2})
	if !res.Created || res.Tail != 2 || res.ContentType != "text/plain" || res.ID == 0 {
		t.Fatalf("first Create = %+v, want created, tail 2, text/plain, an ID", res)
	}
	again := create(t, s, "a", durable.CreateRequest{StreamConfig: text("text/plain")})
	if again.Created || again.ID != res.ID || again.Tail != 2 {
		t.Fatalf("same Create again = %+v, want the existing stream", again)
	}
	for _, req := range []durable.CreateRequest{
		{StreamConfig: text("application/json")},
		{StreamConfig: durable.StreamConfig{ContentType: "text/plain", ContentTypeGiven: true, TTL: time.Hour}},
		{StreamConfig: text("text/plain"), Closed: true},
	} {
		_, err := s.Create(ctx(t), "a", req)
		wantErr(t, fmt.Sprintf("Create with %+v", req), err, durable.ErrConflict)
	}
}

func testAppendRead(t *testing.T, s durable.Store) {
	create(t, s, "a", durable.CreateRequest{})
	var last uint64
	for i := range 10 {
		res := add(t, s, "a", fmt.Sprintf("<%d>", i))
		if res.Tail <= last {
			t.Fatalf("append %d: tail %d not past %d", i, res.Tail, last)
		}
		last = res.Tail
	}
	if got, want := readAll(t, s, "a", 0), "<0><1><2><3><4><5><6><7><8><9>"; got != want {
		t.Fatalf("read = %q, want %q", got, want)
	}
	if got := readAll(t, s, "a", 6); got != "<2><3><4><5><6><7><8><9>" {
		t.Fatalf("read from 6 = %q", got)
	}
	info, err := s.Stat(ctx(t), "a")
	if err != nil || info.Tail != last || info.Closed {
		t.Fatalf("Stat = %+v, %v; want tail %d, open", info, err, last)
	}
	_, err = s.Stat(ctx(t), "none")
	wantErr(t, "Stat of an unknown stream", err, durable.ErrNotFound)
	_, err = s.Append(ctx(t), "none", bytesReq("x"))
	wantErr(t, "Append to an unknown stream", err, durable.ErrNotFound)
	_, err = s.Read(ctx(t), "none", durable.ReadRequest{})
	wantErr(t, "Read of an unknown stream", err, durable.ErrNotFound)
}

func testReadLimit(t *testing.T, s durable.Store) {
	create(t, s, "a", durable.CreateRequest{})
	big := strings.Repeat("x", 1000)
	for range 5 {
		add(t, s, "a", big)
	}
	res, err := s.Read(ctx(t), "a", durable.ReadRequest{From: 0, MaxBytes: 10})
	if err != nil || len(res.Records) != 1 || res.Next != 1000 {
		t.Fatalf("Read with MaxBytes 10 = %d records, next %d, %v; want one record", len(res.Records), res.Next, err)
	}
	res, err = s.Read(ctx(t), "a", durable.ReadRequest{From: 1000, MaxBytes: 2500})
	if err != nil || res.Next > 4000 || res.Next < 3000 {
		t.Fatalf("Read with MaxBytes 2500 ends at %d, %v; want 3000..4000", res.Next, err)
	}
}

func testReadPastTail(t *testing.T, s durable.Store) {
	create(t, s, "a", durable.CreateRequest{Data: []byte("abc"), Units: 3})
	_, err := s.Read(ctx(t), "a", durable.ReadRequest{From: 4})
	wantErr(t, "Read past the tail", err, durable.ErrBadOffset)
	res, err := s.Read(ctx(t), "a", durable.ReadRequest{From: 3})
	if err != nil || len(res.Records) != 0 || res.Next != 3 {
		t.Fatalf("Read at the tail = %+v, %v; want nothing, next 3", res, err)
	}
}

func testClose(t *testing.T, s durable.Store) {
	create(t, s, "a", durable.CreateRequest{})
	add(t, s, "a", "one")
	req := bytesReq("two")
	req.Close = true
	res, err := s.Append(ctx(t), "a", req)
	if err != nil || !res.Closed || res.Tail != 6 {
		t.Fatalf("append-and-close = %+v, %v; want closed at 6", res, err)
	}
	_, err = s.Append(ctx(t), "a", bytesReq("three"))
	var ce *durable.ClosedError
	if !errors.As(err, &ce) || ce.Tail != 6 {
		t.Fatalf("append after close: %v, want a ClosedError at 6", err)
	}
	res, err = s.Append(ctx(t), "a", durable.AppendRequest{Close: true})
	if err != nil || !res.Closed || res.Tail != 6 {
		t.Fatalf("close again = %+v, %v; want an idempotent success", res, err)
	}
	info, _ := s.Stat(ctx(t), "a")
	if !info.Closed || readAll(t, s, "a", 0) != "onetwo" {
		t.Fatalf("closed stream: %+v, %q", info, readAll(t, s, "a", 0))
	}
	closed := create(t, s, "b", durable.CreateRequest{StreamConfig: text("text/plain"), Data: []byte("all"), Units: 3, Closed: true})
	if !closed.Closed || closed.Tail != 3 {
		t.Fatalf("create closed = %+v", closed)
	}
}

func testStreamSeq(t *testing.T, s durable.Store) {
	create(t, s, "a", durable.CreateRequest{})
	for _, step := range []struct {
		seq string
		ok  bool
	}{{"09", true}, {"10", true}, {"10", false}, {"2", true}, {"10", false}, {"B", true}, {"a", true}, {"Z", false}} {
		req := bytesReq("x")
		req.Seq = step.seq
		_, err := s.Append(ctx(t), "a", req)
		if step.ok && err != nil || !step.ok && !errors.Is(err, durable.ErrSeq) {
			t.Fatalf("Stream-Seq %q: %v, want ok=%v", step.seq, err, step.ok)
		}
	}
}

func prodReq(data, id string, epoch, seq uint64) durable.AppendRequest {
	req := bytesReq(data)
	req.Producer = &durable.Producer{ID: id, Epoch: epoch, Seq: seq}
	return req
}

func testProducers(t *testing.T, s durable.Store) {
	create(t, s, "a", durable.CreateRequest{})
	steps := []struct {
		req  durable.AppendRequest
		dup  bool
		err  error
		seq  uint64
		data string
	}{
		{req: prodReq("a", "p", 0, 0), seq: 0},
		{req: prodReq("b", "p", 0, 1), seq: 1},
		{req: prodReq("b", "p", 0, 1), dup: true, seq: 1},
		{req: prodReq("a", "p", 0, 0), dup: true, seq: 1},
		{req: prodReq("x", "p", 0, 3), err: durable.ErrProducerGap},
		{req: prodReq("x", "p", 1, 1), err: durable.ErrProducerEpochSeq},
		{req: prodReq("c", "q", 0, 0), seq: 0},
		{req: prodReq("d", "p", 1, 0), seq: 0},
		{req: prodReq("x", "p", 0, 2), err: durable.ErrStaleEpoch},
	}
	for i, st := range steps {
		res, err := s.Append(ctx(t), "a", st.req)
		if st.err != nil {
			wantErr(t, fmt.Sprintf("step %d", i), err, st.err)
			continue
		}
		if err != nil || res.Duplicate != st.dup || res.ProducerSeq != st.seq || res.ProducerEpoch != st.req.Producer.Epoch {
			t.Fatalf("step %d: %+v, %v; want dup=%v seq %d", i, res, err, st.dup, st.seq)
		}
	}
	var pe *durable.ProducerError
	_, err := s.Append(ctx(t), "a", prodReq("x", "p", 0, 9))
	if !errors.As(err, &pe) || pe.Epoch != 1 {
		t.Fatalf("stale epoch error %v, want one carrying epoch 1", err)
	}
	_, err = s.Append(ctx(t), "a", prodReq("x", "p", 1, 5))
	if !errors.As(err, &pe) || pe.Expected != 1 || pe.Received != 5 {
		t.Fatalf("gap error %v, want expected 1 received 5", err)
	}
	if got := readAll(t, s, "a", 0); got != "abcd" {
		t.Fatalf("data = %q, want abcd (duplicates stored once)", got)
	}
}

func testProducerClose(t *testing.T, s durable.Store) {
	create(t, s, "a", durable.CreateRequest{})
	req := prodReq("final", "p", 0, 0)
	req.Close = true
	if res, err := s.Append(ctx(t), "a", req); err != nil || res.Duplicate || !res.Closed {
		t.Fatalf("producer close = %+v, %v", res, err)
	}
	retry := prodReq("other", "p", 0, 0)
	retry.Close = true
	if res, err := s.Append(ctx(t), "a", retry); err != nil || !res.Duplicate || !res.Closed {
		t.Fatalf("retried producer close = %+v, %v; want a closed duplicate", res, err)
	}
	_, err := s.Append(ctx(t), "a", prodReq("x", "p", 0, 1))
	wantErr(t, "another sequence after the close", err, durable.ErrClosed)
	if got := readAll(t, s, "a", 0); got != "final" {
		t.Fatalf("data = %q, want final", got)
	}
}

func testContentType(t *testing.T, s durable.Store) {
	create(t, s, "a", durable.CreateRequest{})
	req := bytesReq("x")
	req.ContentType = "application/json"
	_, err := s.Append(ctx(t), "a", req)
	wantErr(t, "append of another content type", err, durable.ErrContentType)
	if _, err := s.Append(ctx(t), "a", durable.AppendRequest{ContentType: "application/json", Close: true}); err != nil {
		t.Fatalf("close-only with another content type: %v", err)
	}
}

func testRecreate(t *testing.T, s durable.Store) {
	first := create(t, s, "a", durable.CreateRequest{Data: []byte("old"), Units: 3})
	if err := s.Delete(ctx(t), "a"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "second Delete", s.Delete(ctx(t), "a"), durable.ErrNotFound)
	again := create(t, s, "a", durable.CreateRequest{Data: []byte("new"), Units: 3})
	if !again.Created || again.ID == first.ID {
		t.Fatalf("re-create = %+v, want a new incarnation", again)
	}
	if got := readAll(t, s, "a", 0); got != "new" {
		t.Fatalf("re-created data = %q, want new", got)
	}
}

func forkReq(src string, at uint64, sub uint64) durable.CreateRequest {
	return durable.CreateRequest{StreamConfig: durable.StreamConfig{ForkedFrom: src, ForkOffset: at, HasForkOffset: true, ForkSubOffset: sub}}
}

func testFork(t *testing.T, s durable.Store) {
	create(t, s, "src", durable.CreateRequest{Data: []byte("AB"), Units: 2})
	add(t, s, "src", "CD")
	f := create(t, s, "f", forkReq("src", 2, 0))
	if f.ContentType != "text/plain" || f.Tail != 2 {
		t.Fatalf("fork = %+v, want inherited text/plain at 2", f)
	}
	add(t, s, "src", "EF")
	add(t, s, "f", "xy")
	if got := readAll(t, s, "f", 0); got != "ABxy" {
		t.Fatalf("fork reads %q, want ABxy", got)
	}
	if got := readAll(t, s, "f", 2); got != "xy" {
		t.Fatalf("fork from 2 reads %q, want xy", got)
	}
	g := create(t, s, "g", forkReq("f", 3, 0))
	add(t, s, "g", "z")
	if got := readAll(t, s, "g", 0); got != "ABxz" || g.Tail != 3 {
		t.Fatalf("fork of a fork reads %q, want ABxz", got)
	}
	_, err := s.Create(ctx(t), "h", forkReq("src", 99, 0))
	wantErr(t, "fork past the tail", err, durable.ErrBadFork)
	_, err = s.Create(ctx(t), "h", forkReq("none", 0, 0))
	wantErr(t, "fork of nothing", err, durable.ErrNotFound)
	bad := forkReq("src", 0, 0)
	bad.StreamConfig.ContentType, bad.ContentTypeGiven = "application/json", true
	_, err = s.Create(ctx(t), "h", bad)
	wantErr(t, "fork with another content type", err, durable.ErrConflict)
	if again := create(t, s, "f", forkReq("src", 2, 0)); again.Created {
		t.Fatal("the same fork again was created anew")
	}
}

func testForkSubOffset(t *testing.T, s durable.Store) {
	create(t, s, "src", durable.CreateRequest{Data: []byte("first"), Units: 5})
	add(t, s, "src", "second")
	create(t, s, "f", forkReq("src", 5, 3))
	if got := readAll(t, s, "f", 0); got != "firstsec" {
		t.Fatalf("sub-offset fork reads %q, want firstsec", got)
	}
	_, err := s.Create(ctx(t), "g", forkReq("src", 5, 7))
	wantErr(t, "sub-offset overshoot", err, durable.ErrBadFork)
	create(t, s, "j", durable.CreateRequest{StreamConfig: text("application/json"), Data: []byte(`{"a":1},{"b":2},[3]`), Units: 3})
	jf := create(t, s, "jf", forkReq("j", 0, 2))
	res, err := s.Read(ctx(t), "jf", durable.ReadRequest{MaxBytes: 100})
	if err != nil || jf.Tail != 2 || len(res.Records) != 1 || string(res.Records[0].Data) != `{"a":1},{"b":2}` {
		t.Fatalf("JSON sub-offset fork = %+v / %+v, %v", jf, res.Records, err)
	}
}

func testSoftDelete(t *testing.T, s durable.Store) {
	create(t, s, "src", durable.CreateRequest{Data: []byte("AB"), Units: 2})
	create(t, s, "f1", forkReq("src", 2, 0))
	create(t, s, "f2", forkReq("f1", 2, 0))
	if err := s.Delete(ctx(t), "src"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Stat(ctx(t), "src")
	wantErr(t, "Stat of a soft-deleted stream", err, durable.ErrGone)
	wantErr(t, "Delete of a soft-deleted stream", s.Delete(ctx(t), "src"), durable.ErrGone)
	_, err = s.Create(ctx(t), "src", durable.CreateRequest{StreamConfig: text("text/plain")})
	wantErr(t, "re-create of a soft-deleted name", err, durable.ErrConflict)
	_, err = s.Create(ctx(t), "f3", forkReq("src", 0, 0))
	wantErr(t, "fork of a soft-deleted source", err, durable.ErrConflict)
	if err := s.Delete(ctx(t), "f1"); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, "f2", 0); got != "AB" {
		t.Fatalf("f2 reads %q through two deleted sources, want AB", got)
	}
	if err := s.Delete(ctx(t), "f2"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"src", "f1", "f2"} {
		_, err := s.Stat(ctx(t), name)
		wantErr(t, "Stat of "+name+" after the chain was collected", err, durable.ErrNotFound)
	}
	create(t, s, "src", durable.CreateRequest{})
}

func testExpiry(t *testing.T, s durable.Store) {
	past := time.Now().Add(-time.Hour)
	create(t, s, "ttl", durable.CreateRequest{StreamConfig: durable.StreamConfig{ContentType: "text/plain", TTL: time.Minute}, Now: past})
	create(t, s, "at", durable.CreateRequest{StreamConfig: durable.StreamConfig{ContentType: "text/plain", ExpiresAt: time.Now().Add(-time.Second)}})
	create(t, s, "live", durable.CreateRequest{StreamConfig: durable.StreamConfig{ContentType: "text/plain", TTL: time.Hour}})
	for _, name := range []string{"ttl", "at"} {
		_, err := s.Stat(ctx(t), name)
		wantErr(t, "Stat of expired "+name, err, durable.ErrNotFound)
		_, err = s.Append(ctx(t), name, bytesReq("x"))
		wantErr(t, "Append to expired "+name, err, durable.ErrNotFound)
	}
	info, err := s.Stat(ctx(t), "live")
	if err != nil || info.TTL != time.Hour || info.Expiry.IsZero() {
		t.Fatalf("live stream: %+v, %v", info, err)
	}
	create(t, s, "ttl", durable.CreateRequest{})
}

func testTTLRefresh(t *testing.T, s durable.Store) {
	t0 := time.Now().Add(-50 * time.Second)
	create(t, s, "a", durable.CreateRequest{StreamConfig: durable.StreamConfig{ContentType: "text/plain", TTL: time.Minute}, Now: t0})
	before, _ := s.Stat(ctx(t), "a")
	if _, err := s.Read(ctx(t), "a", durable.ReadRequest{}); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Stat(ctx(t), "a")
	if !after.Expiry.After(before.Expiry.Add(40 * time.Second)) {
		t.Fatalf("expiry %v after a read, was %v: the read did not slide the TTL", after.Expiry, before.Expiry)
	}
	again, _ := s.Stat(ctx(t), "a")
	if !again.Expiry.Equal(after.Expiry) {
		t.Fatalf("Stat moved the expiry from %v to %v", after.Expiry, again.Expiry)
	}
}

func waitAsync(s durable.Store, c context.Context, name string, id, pos uint64) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.Wait(c, name, id, pos) }()
	return ch
}

func expectWake(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		if err != nil {
			t.Fatalf("Wait after %s: %v", what, err)
		}
	case <-time.After(Timeout):
		t.Fatalf("Wait did not wake after %s", what)
	}
}

// waitBlocks checks that a Wait is blocked by giving it a short context:
// it must end with that context's error, not nil.
func waitBlocks(t *testing.T, s durable.Store, name string, id, pos uint64) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx(t), 20*time.Millisecond)
	defer cancel()
	if err := s.Wait(c, name, id, pos); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait(%s, %d) with nothing new = %v, want it to block until its context ends", name, pos, err)
	}
}

func testWait(t *testing.T, s durable.Store) {
	for _, step := range []struct {
		what string
		do   func(name string) error
	}{
		{"an append", func(name string) error { _, err := s.Append(ctx(t), name, bytesReq("x")); return err }},
		{"a close", func(name string) error {
			_, err := s.Append(ctx(t), name, durable.AppendRequest{Close: true})
			return err
		}},
		{"a delete", func(name string) error { return s.Delete(ctx(t), name) }},
	} {
		name := "stream after " + step.what
		a := create(t, s, name, durable.CreateRequest{})
		waitBlocks(t, s, name, a.ID, a.Tail)
		started := make(chan struct{})
		ch := make(chan error, 1)
		go func() {
			close(started)
			ch <- s.Wait(ctx(t), name, a.ID, a.Tail)
		}()
		<-started
		// The Wait may register before or after the write: either way it
		// must return, since the state it waits past has changed.
		if err := step.do(name); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		expectWake(t, ch, step.what)
	}
}

func testWaitNoBlock(t *testing.T, s durable.Store) {
	a := create(t, s, "a", durable.CreateRequest{Data: []byte("abc"), Units: 3})
	c, cancel := context.WithTimeout(ctx(t), Timeout)
	defer cancel()
	for _, tt := range []struct {
		name string
		id   uint64
		pos  uint64
	}{{"a", a.ID, 0}, {"a", a.ID + 1000, 3}, {"none", 1, 0}} {
		if err := s.Wait(c, tt.name, tt.id, tt.pos); err != nil {
			t.Fatalf("Wait(%s, %d, %d) = %v, want an immediate nil", tt.name, tt.id, tt.pos, err)
		}
	}
}

func testWaitCancel(t *testing.T, s durable.Store) {
	a := create(t, s, "a", durable.CreateRequest{})
	c, cancel := context.WithCancel(ctx(t))
	ch := waitAsync(s, c, "a", a.ID, 0)
	cancel()
	select {
	case err := <-ch:
		wantErr(t, "Wait with a cancelled context", err, context.Canceled)
	case <-time.After(Timeout):
		t.Fatal("Wait did not end with its context")
	}
}

func testConcurrent(t *testing.T, s durable.Store) {
	create(t, s, "a", durable.CreateRequest{})
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.Append(ctx(t), "a", bytesReq(fmt.Sprintf("%c%02d;", 'a'+w, i))); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := readAll(t, s, "a", 0)
	seen := map[byte]int{}
	for _, part := range strings.Split(strings.TrimSuffix(got, ";"), ";") {
		w := part[0]
		var i int
		fmt.Sscanf(part[1:], "%d", &i)
		if i != seen[w] {
			t.Fatalf("writer %c: record %d after %d: appends of one writer reordered", w, i, seen[w]-1)
		}
		seen[w]++
	}
	if len(got) != writers*each*4 {
		t.Fatalf("read %d bytes, want %d", len(got), writers*each*4)
	}
}

func testClosedStore(t *testing.T, s durable.Store) {
	create(t, s, "a", durable.CreateRequest{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(ctx(t), "a", bytesReq("x"))
	wantErr(t, "Append after Close", err, durable.ErrStoreClosed)
	_, err = s.Read(ctx(t), "a", durable.ReadRequest{})
	wantErr(t, "Read after Close", err, durable.ErrStoreClosed)
	wantErr(t, "Wait after Close", s.Wait(ctx(t), "a", 1, 0), durable.ErrStoreClosed)
}

// limited is a create request under a stream limit of max.
func limited(max int) durable.CreateRequest {
	return durable.CreateRequest{StreamConfig: durable.StreamConfig{ContentType: "text/plain", ContentTypeGiven: true}, MaxStreams: max}
}

func testStreamLimit(t *testing.T, s durable.Store) {
	for _, name := range []string{"a", "b"} {
		if _, err := s.Create(ctx(t), name, limited(2)); err != nil {
			t.Fatalf("create %s under a limit of 2: %v", name, err)
		}
	}
	_, err := s.Create(ctx(t), "c", limited(2))
	wantErr(t, "a third stream under a limit of 2", err, durable.ErrTooMany)
	if _, err := s.Create(ctx(t), "a", limited(2)); err != nil {
		t.Fatalf("an idempotent re-create at the limit: %v", err)
	}
	if err := s.Delete(ctx(t), "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx(t), "c", limited(2)); err != nil {
		t.Fatalf("a create after a delete made room: %v", err)
	}
	_, err = s.Create(ctx(t), "d", limited(2))
	wantErr(t, "a create once the room is taken again", err, durable.ErrTooMany)
}

// testConcurrentCreates: creates that all check the limit at once must not
// overtake each other into failure (they did on Redis: 503 after 64 tries).
func testConcurrentCreates(t *testing.T, s durable.Store) {
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Create(ctx(t), fmt.Sprintf("c%d", i), limited(1000)); err != nil {
				errs <- fmt.Errorf("create c%d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
