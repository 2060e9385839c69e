package boltstore_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/hubtest"
	"github.com/ssehub/ssehub/idempotency"
	"github.com/ssehub/ssehub/idempotency/idempotencytest"
	"github.com/ssehub/ssehub/mercure/mercuretest"
	"github.com/ssehub/ssehub/store/boltstore"
)

func open(t *testing.T, opts boltstore.Options) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "hub.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	hubtest.TestStore(t, func(t *testing.T) hub.Store { return open(t, boltstore.Options{}) })
}

func TestIdempotency(t *testing.T) {
	idempotencytest.TestStore(t, func(t *testing.T) idempotency.Store { return open(t, boltstore.Options{}) })
}

func TestProtocol(t *testing.T) {
	mercuretest.Run(t, func(t *testing.T) hub.Store { return open(t, boltstore.Options{}) })
}

func TestStore_HistoryIsPrunedByCountAndAge(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	tests := []struct {
		name    string
		opts    boltstore.Options
		advance time.Duration // before the last append
		want    []string
	}{
		{"count keeps the newest MaxUpdates", boltstore.Options{MaxUpdates: 3, Now: clock}, 0, []string{"c", "d", "e"}},
		{"age drops updates older than MaxAge", boltstore.Options{MaxAge: time.Minute, Now: clock}, 2 * time.Minute, []string{"e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hubtest.TestTrimmed(t, open(t, tt.opts), func() { now = now.Add(tt.advance) }, tt.want...)
		})
	}
}

func TestStore_HistorySurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hubtest.AppendIDs(t, s, "a", "b")
	s.Close()
	s, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hubtest.AppendIDs(t, s, "c")
	if got := fmt.Sprint(hubtest.ReadIDs(t, s)); got != "[a b c]" {
		t.Fatalf("history after reopen = %s", got)
	}
	if seq, err := s.Lookup(context.Background(), "a"); err != nil || seq != 1 {
		t.Fatalf("Lookup(a) after reopen = %d, %v; want 1", seq, err)
	}
}

// TestOpen_RebuildsTheIDIndexOfAnOlderFile opens a file whose id index is
// the one of versions that refused duplicate ids (bucket "ids", id → seq):
// the index is rebuilt from the updates, so Lookup still answers.
func TestOpen_RebuildsTheIDIndexOfAnOlderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hubtest.AppendIDs(t, s, "a", "b", "a")
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("idseqs")); err != nil {
			return err
		}
		old, err := tx.CreateBucket([]byte("ids"))
		if err != nil {
			return err
		}
		return old.Put([]byte("b"), binary.BigEndian.AppendUint64(nil, 2))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for id, want := range map[string]uint64{"a": 1, "b": 2} {
		if seq, err := s.Lookup(context.Background(), id); err != nil || seq != want {
			t.Errorf("Lookup(%s) = %d, %v; want %d", id, seq, err, want)
		}
	}
}

func TestOpen_SecondProcessOnTheSameFileIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// bbolt's flock is per open file description, so a second Open in this
	// process sees the lock like another process would.
	if _, err := boltstore.Open(path, boltstore.Options{Timeout: 50 * time.Millisecond}); err == nil {
		t.Fatal("second Open succeeded, want a lock error")
	}
}

// appenderEnv makes the test binary an appender child (see TestMain).
const appenderEnv = "BOLTSTORE_TEST_APPENDER"

func TestMain(m *testing.M) {
	if path := os.Getenv(appenderEnv); path != "" {
		os.Exit(runAppender(path))
	}
	os.Exit(m.Run())
}

// runAppender appends updates forever, printing each acknowledged Seq.
func runAppender(path string) int {
	s, err := boltstore.Open(path, boltstore.Options{MaxUpdates: 1 << 20})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		u := &hub.Update{ID: fmt.Sprint("u", i), Topics: []string{"t"}, Data: "x"}
		if err := s.Append(context.Background(), u); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintln(w, u.Seq)
		w.Flush()
	}
}

func TestStore_AcknowledgedUpdatesSurviveSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), appenderEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var acked uint64
	for sc.Scan() {
		if acked, err = strconv.ParseUint(sc.Text(), 10, 64); err != nil {
			t.Fatal(err)
		}
		if acked == 200 {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // acknowledgements written before the kill landed
		if n, err := strconv.ParseUint(sc.Text(), 10, 64); err == nil {
			acked = n
		}
	}
	cmd.Wait()
	if acked < 200 {
		t.Fatalf("appender acknowledged only %d updates", acked)
	}
	s, err := boltstore.Open(path, boltstore.Options{MaxUpdates: 1 << 20})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	ups, err := s.Read(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(ups)) < acked {
		t.Fatalf("after SIGKILL the file holds %d updates, %d were acknowledged", len(ups), acked)
	}
	for i, u := range ups {
		if u.Seq != uint64(i+1) || u.ID != fmt.Sprint("u", i) {
			t.Fatalf("update %d = seq %d id %q, want seq %d id u%d", i, u.Seq, u.ID, i+1, i)
		}
	}
	for _, n := range []uint64{0, acked - 1} {
		if seq, err := s.Lookup(context.Background(), fmt.Sprint("u", n)); err != nil || seq != n+1 {
			t.Fatalf("Lookup(u%d) after SIGKILL = %d, %v; want %d", n, seq, err, n+1)
		}
	}
}

func TestStore_HistoryIsBoundedInBytes(t *testing.T) {
	hubtest.TestByteBound(t, func(t *testing.T, maxBytes int64) hub.Store {
		return open(t, boltstore.Options{MaxBytes: maxBytes})
	})
}
