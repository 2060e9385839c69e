package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds the ssehub command once per test run and returns its path,
// so that tests exercise the real process: flags, signals, exit codes.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "ssehub-test-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "ssehub")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("building ssehub: %v", buildErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// runMain runs a command in-process and returns its exit code and output.
func runMain(t *testing.T, stdin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	m := &Main{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := m.Run(ctx, args)
	return code, stdout.String(), stderr.String()
}

// server is a running "ssehub serve" process.
type server struct {
	cmd    *exec.Cmd
	url    string // http://127.0.0.1:port
	stderr *bytes.Buffer
	exited chan error
}

// startServer runs the binary with args on a free loopback port and waits
// for it to log the address it serves.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	return startServerIn(t, t.TempDir(), args...)
}

// startServerIn is startServer in the working directory dir, where the
// default store, ssehub.db, goes.
func startServerIn(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	return startServerWith(t, dir, func(bin string, args []string) *exec.Cmd { return exec.Command(bin, args...) }, args...)
}

// startServerWith is startServerIn with the command made by command.
func startServerWith(t *testing.T, dir string, command func(bin string, args []string) *exec.Cmd, args ...string) *server {
	t.Helper()
	args = append([]string{"serve", "-addr", "127.0.0.1:0", "-log-format", "json"}, args...)
	cmd := command(binary(t), args)
	cmd.Dir = dir
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	urls := make(chan string, 1)
	// s.stderr is read only once s.exited has delivered.
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			s.stderr.WriteString(sc.Text() + "\n")
			var rec struct{ URL string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.URL != "" {
				select {
				case urls <- strings.TrimSuffix(rec.URL, "/"):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
		s.exited <- cmd.Wait()
	}()
	// Kill is safe on a process that has exited, while reading ProcessState
	// here would race with the goroutine's Wait.
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case s.url = <-urls:
	case err := <-s.exited:
		t.Fatalf("ssehub serve exited early: %v\n%s", err, s.stderr)
	case <-time.After(30 * time.Second):
		t.Fatal("ssehub serve did not report its address")
	}
	return s
}

// wait waits for the process to exit and returns its exit code.
func (s *server) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("ssehub did not exit within %s", within)
		return -1
	}
}
