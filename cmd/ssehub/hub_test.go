package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestHub_TokenPublishListenEndToEnd runs the README's hub example with
// real processes: serve, token, listen -json and publish.
func TestHub_TokenPublishListenEndToEnd(t *testing.T) {
	const key = "e2e-secret"
	s := startServer(t, "-jwt-key", key, "-anonymous")
	hubURL := s.url + "/.well-known/mercure"

	code, token, stderr := runMain(t, "", nil, "token", "-jwt-key", key, "-publish", "https://example.com/books/{id}", "-publish", "https://example.com/authors/{id}")
	if code != exitOK {
		t.Fatalf("token: exit %d: %s", code, stderr)
	}
	token = strings.TrimSpace(token)

	listen := exec.Command(binary(t), "listen", "-json", "-v", "-max-events", "2", "-timeout", "30s",
		hubURL+"?topic="+"https://example.com/books/{id}")
	var stdout bytes.Buffer
	listen.Stdout = &stdout
	errPipe, _ := listen.StderrPipe()
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = listen.Process.Kill() })
	open := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			if sc.Text() == "ssehub listen: open" {
				close(open)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-open:
	case <-time.After(30 * time.Second):
		t.Fatal("listen never opened the stream")
	}

	publish := func(args ...string) string {
		t.Helper()
		args = append([]string{"publish", "-hub", hubURL, "-token", token}, args...)
		code, out, stderr := runMain(t, "", nil, args...)
		if code != exitOK {
			t.Fatalf("publish %v: exit %d: %s", args, code, stderr)
		}
		return strings.TrimSpace(out)
	}
	first := publish("-topic", "https://example.com/books/1", "-data", "line one\nline two")
	if !strings.HasPrefix(first, "urn:uuid:") {
		t.Fatalf("publish printed %q, want a generated urn:uuid id", first)
	}
	publish("-topic", "https://example.com/authors/7", "-data", "not for this subscriber")
	if got := publish("-topic", "https://example.com/books/2", "-id", "book-2", "-type", "note", "-data", "second"); got != "book-2" {
		t.Fatalf("publish printed %q, want the given id", got)
	}

	done := make(chan error, 1)
	go func() { done <- listen.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("listen did not exit after two events")
	}
	want := `{"type":"message","data":"line one\nline two","id":"` + first + `"}` + "\n" +
		`{"type":"note","data":"second","id":"book-2"}` + "\n"
	if stdout.String() != want {
		t.Fatalf("listen printed\n%s\nwant\n%s", stdout.String(), want)
	}
}
