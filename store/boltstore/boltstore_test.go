package boltstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/hubtest"
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
	if err := s.Append(context.Background(), &hub.Update{ID: "a", Topics: []string{"t"}}); !errors.Is(err, hub.ErrDuplicateID) {
		t.Fatalf("Append(a) after reopen = %v, want ErrDuplicateID", err)
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
	for _, id := range []string{"u0", fmt.Sprint("u", acked-1)} {
		if err := s.Append(context.Background(), &hub.Update{ID: id, Topics: []string{"t"}}); !errors.Is(err, hub.ErrDuplicateID) {
			t.Fatalf("Append(%s) after SIGKILL = %v, want ErrDuplicateID", id, err)
		}
	}
}

func TestStore_HistoryIsBoundedInBytes(t *testing.T) {
	hubtest.TestByteBound(t, func(t *testing.T, maxBytes int64) hub.Store {
		return open(t, boltstore.Options{MaxBytes: maxBytes})
	})
}
