package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/tlsserve"
)

func TestServe_EndsStreamsCleanlyAndExitsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			// A delay of an hour keeps the stream open until the signal.
			s := startServer(t, "-demo-delay", "1h")
			resp, err := http.Get(s.url + "/sse/stream")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			p := sse.NewParser(resp.Body)
			for _, want := range []string{"ping", "message"} {
				ev, err := p.Next()
				if err != nil || ev.Type != want {
					t.Fatalf("got %q, %v; want a %s event", ev, err, want)
				}
			}
			if err := s.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			// The stream must end with a clean end of body, not a reset.
			if _, err := p.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("stream ended with %v, want a clean end", err)
			}
			if code := s.wait(t, 15*time.Second); code != 0 {
				t.Fatalf("exit code %d, want 0\n%s", code, s.stderr)
			}
			if !strings.Contains(s.stderr.String(), `"msg":"stopped"`) {
				t.Fatalf("no stop in the log:\n%s", s.stderr)
			}
		})
	}
}

func TestServe_EndsTakenOverDurableStreamsCleanlyOnSignal(t *testing.T) {
	// An append whose body never comes holds the server's shutdown for
	// its whole timeout, far longer than the test waits: the live Durable
	// Streams readers, whose connections net/http gave up, must end at
	// the start of the shutdown, not with the store or the process.
	s := startServer(t, "-store", "memory://", "-durable-store", "memory://", "-shutdown-timeout", "2m")
	u := s.url + "/v1/stream/live"
	hung, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	fmt.Fprintf(hung, "POST /v1/stream/other HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n")
	req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader("hello"))
	req.Header.Set("Content-Type", "text/plain")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %v %v", res, err)
	}
	var parsers []*sse.Parser
	for range 3 {
		resp, err := http.Get(u + "?offset=-1&live=sse")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if !resp.Close {
			t.Fatal("the SSE response does not say Connection: close: it is not taken over")
		}
		p := sse.NewParser(resp.Body)
		for _, want := range []string{"data", "control"} {
			if ev, err := p.Next(); err != nil || ev.Type != want {
				t.Fatalf("got %q, %v; want a %s event", ev, err, want)
			}
		}
		parsers = append(parsers, p)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i, p := range parsers {
		ended := make(chan error, 1)
		go func() {
			_, err := p.Next()
			ended <- err
		}()
		select {
		case err := <-ended:
			if !errors.Is(err, io.EOF) {
				t.Fatalf("reader %d: the stream ended with %v, want a clean end of body", i, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("reader %d: the stream did not end within 20 s of the signal", i)
		}
	}
	hung.Close() // lets the shutdown finish
	if code := s.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0\n%s", code, s.stderr)
	}
}

func TestServe_ServesTheDemoPage(t *testing.T) {
	s := startServer(t)
	resp, err := http.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "输出") {
		t.Fatalf("GET / = %d, %.80q", resp.StatusCode, b)
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	s.wait(t, 15*time.Second)
}

func TestServe_AddressInUseIsAClearError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, stderr := runMain(t, "", nil, "serve", "-addr", ln.Addr().String())
	if code != exitFailure || !strings.Contains(stderr, "cannot listen on "+ln.Addr().String()) || !strings.Contains(stderr, "-addr") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestServe_EnvironmentBacksFlags(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The address is taken, so the failure message proves which one was used.
	code, _, stderr := runMain(t, "", map[string]string{"SSEHUB_ADDR": ln.Addr().String()}, "serve")
	if code != exitFailure || !strings.Contains(stderr, ln.Addr().String()) {
		t.Fatalf("SSEHUB_ADDR ignored: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runMain(t, "", map[string]string{"SSEHUB_DEMO_DELAY": "soon"}, "serve")
	if code != exitUsage || !strings.Contains(stderr, "SSEHUB_DEMO_DELAY") {
		t.Fatalf("bad SSEHUB_DEMO_DELAY: exit %d, stderr %q", code, stderr)
	}
}

func TestMain_Usage(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		contains string
		stream   string
	}{
		{[]string{"--help"}, exitOK, "Commands:", "stdout"},
		{[]string{"help"}, exitOK, "serve", "stdout"},
		{[]string{"serve", "-help"}, exitOK, "[SSEHUB_ADDR]", "stderr"},
		{[]string{"help", "serve"}, exitOK, "-shutdown-timeout", "stderr"},
		{[]string{"serve", "-help"}, exitOK, "[SSEHUB_TLS_CERT]", "stderr"},
		{[]string{"serve", "-http3"}, exitUsage, "HTTP/3 needs TLS", "stderr"},
		{[]string{"serve", "-tls-cert", "c.pem"}, exitUsage, "needs its key file", "stderr"},
		{[]string{"nonsense"}, exitUsage, `unknown command "nonsense"`, "stderr"},
		{[]string{"serve", "-no-such-flag"}, exitUsage, "flag provided but not defined", "stderr"},
		{[]string{"serve", "extra"}, exitUsage, `unexpected argument "extra"`, "stderr"},
		{[]string{"serve", "-log-level", "loud"}, exitUsage, "invalid -log-level", "stderr"},
		{[]string{"serve", "-history-bytes", "lots"}, exitUsage, `size "lots" is not a whole number of bytes`, "stderr"},
		{[]string{"serve", "-page-bytes", "0"}, exitUsage, "want between 1B and 1GiB", "stderr"},
		{[]string{"help", "serve"}, exitOK, "1GiB for bolt:// (on disk), 256MiB for redis://, 64MiB for memory://", "stderr"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMain(t, "", nil, tt.args...)
			out := stdout
			if tt.stream == "stderr" {
				out = stderr
			}
			if code != tt.code || !strings.Contains(out, tt.contains) {
				t.Fatalf("exit %d (want %d); %s lacks %q:\nstdout: %s\nstderr: %s", code, tt.code, tt.stream, tt.contains, stdout, stderr)
			}
		})
	}
}

func TestServe_TLSSelfSignedServesHTTP2(t *testing.T) {
	s := startServer(t, "-tls-self-signed")
	if !strings.HasPrefix(s.url, "https://") {
		t.Fatalf("serving at %s, want an https URL", s.url)
	}
	// The certificate is new at every start; the test pins it by the SPKI
	// hash the server logs, as Chromium's flag does.
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz = %s over %s, want 200 over HTTP/2", resp.Status, resp.Proto)
	}
	spki := tlsserve.SPKIHash(resp.TLS.PeerCertificates[0])
	tr.CloseIdleConnections()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	s.wait(t, 15*time.Second)
	if !strings.Contains(s.stderr.String(), spki) {
		t.Fatalf("the log does not give the certificate's SPKI hash %s:\n%s", spki, s.stderr)
	}
}
