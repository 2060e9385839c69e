// Package servertest gives store tests their servers: the shared Redis and
// NATS that "make deps" starts on 127.0.0.1 (reached, never stopped), unique
// key and stream names so that tests never see each other's data, and
// private redis-server / nats-server processes on free loopback ports in
// temporary directories that fault tests stop and start at will.
package servertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Addresses of the shared servers that "make deps" starts.
const (
	SharedRedisAddr = "127.0.0.1:6379"
	SharedNATSAddr  = "127.0.0.1:4222"
)

// Wait bounds every wait of this package.
const Wait = 15 * time.Second

// reachable dials addr once.
func reachable(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// SharedRedis returns the shared Redis's address, failing the test when it
// does not answer.
func SharedRedis(t testing.TB) string {
	t.Helper()
	if err := reachable(SharedRedisAddr); err != nil {
		t.Fatalf("Redis is not reachable on %s (%v): run `make deps` to install and start it", SharedRedisAddr, err)
	}
	return SharedRedisAddr
}

// SharedNATS returns the shared NATS server's address, failing the test
// when it does not answer. The first call of a test process also deletes
// the streams that tests left behind (see DropStaleStreams).
func SharedNATS(t testing.TB) string {
	t.Helper()
	if err := reachable(SharedNATSAddr); err != nil {
		t.Fatalf("NATS is not reachable on %s (%v): run `make deps` to install and start it (with JetStream)", SharedNATSAddr, err)
	}
	staleOnce.Do(func() { DropStaleStreams(SharedNATSAddr, StaleAfter) })
	return SharedNATSAddr
}

// StaleAfter is how old a stream named by Unique must be before
// DropStaleStreams deletes it: older than any test run.
const StaleAfter = time.Hour

var staleOnce sync.Once

// uniqueName matches the names Unique makes, with an optional upper-case
// suffix (a sibling stream such as X_1234567890ab_DURABLE).
var uniqueName = regexp.MustCompile(`^[A-Za-z0-9]+(_[A-Za-z0-9]+)*_[0-9a-f]{12}(_[A-Z]+)?$`)

// DropStaleStreams deletes the JetStream streams on addr that tests made
// (named by Unique) more than age ago. A test killed before its cleanup
// leaves its stream behind, and every stream with a byte limit reserves
// that much of the server's storage, so leftovers would in time make the
// server refuse new streams ("insufficient storage resources").
func DropStaleStreams(addr string, age time.Duration) {
	nc, err := nats.Connect("nats://"+addr, nats.Timeout(2*time.Second))
	if err != nil {
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	streams := js.ListStreams(ctx)
	var stale []string
	for info := range streams.Info() {
		if uniqueName.MatchString(info.Config.Name) && time.Since(info.Created) > age {
			stale = append(stale, info.Config.Name)
		}
	}
	for _, name := range stale {
		_ = js.DeleteStream(ctx, name)
	}
}

// DropStream deletes the JetStream stream name on the shared NATS server
// when the test ends.
func DropStream(t testing.TB, name string) {
	t.Cleanup(func() {
		nc, err := nats.Connect("nats://"+SharedNATSAddr, nats.Timeout(2*time.Second))
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := jetstream.New(nc); err == nil {
			_ = js.DeleteStream(context.Background(), name)
		}
	})
}

// Unique returns prefix followed by random hex: a key prefix or stream name
// no other test uses. It contains only [A-Za-z0-9_].
func Unique(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Server is a private server process that a test stops and starts.
type Server struct {
	t    testing.TB
	name string
	Addr string // 127.0.0.1:port
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *bytes.Buffer
}

// StartRedis starts a private redis-server on a free loopback port, with
// its data in a temporary directory and AOF with appendfsync always, so
// that a restart keeps every acknowledged write. The test's cleanup stops
// it.
func StartRedis(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	port := FreePort(t)
	s := &Server{t: t, name: "redis-server", Addr: fmt.Sprintf("127.0.0.1:%d", port),
		args: []string{"--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--dir", dir, "--save", "",
			"--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--protected-mode", "yes"}}
	s.Start()
	return s
}

// StartNATS starts a private nats-server with JetStream (file storage in a
// temporary directory) on a free loopback port. The test's cleanup stops it.
func StartNATS(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	port := FreePort(t)
	s := &Server{t: t, name: "nats-server", Addr: fmt.Sprintf("127.0.0.1:%d", port),
		args: []string{"-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", filepath.Join(dir, "js")}}
	s.Start()
	return s
}

// Start starts the server (again) and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		s.t.Fatalf("%s on %s is already running", s.name, s.Addr)
	}
	bin, err := exec.LookPath(s.name)
	if err != nil {
		s.mu.Unlock()
		s.t.Fatalf("%s is not installed (%v): run `make deps`", s.name, err)
	}
	cmd := exec.Command(bin, s.args...)
	s.out = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.t.Fatalf("start %s: %v", s.name, err)
	}
	s.cmd = cmd
	s.mu.Unlock()
	s.t.Cleanup(s.Stop)
	deadline := time.Now().Add(Wait)
	for reachable(s.Addr) != nil {
		if time.Now().After(deadline) {
			s.t.Fatalf("%s did not listen on %s within %s", s.name, s.Addr, Wait)
		}
		time.Sleep(20 * time.Millisecond) // polling a port, bounded by deadline
	}
}

// Stop kills the server (SIGKILL: nothing is flushed that was not already)
// and waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	s.cmd = nil
}

// Output returns what the server printed, for failure messages.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return strings.TrimSpace(s.out.String())
}
