package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// sseServer answers its n-th request with steps[n] and 204 once they run
// out, and records each request.
type sseServer struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
	steps  []http.HandlerFunc
}

func newSSEServer(t *testing.T, steps ...http.HandlerFunc) *sseServer {
	s := &sseServer{steps: steps}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		s.bodies = append(s.bodies, string(body))
		s.mu.Unlock()
		if n < len(s.steps) {
			s.steps[n](w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sseServer) request(i int) (*http.Request, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[i], s.bodies[i]
}

func eventStream(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}
}

// endless sends body, then a comment every few milliseconds until the client
// goes away, so that only the client can end the stream.
func endless(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
		rc := http.NewResponseController(w)
		rc.Flush()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				io.WriteString(w, ": keep-alive\n")
				rc.Flush()
			}
		}
	}
}

func TestListen_EndToEnd(t *testing.T) {
	bin := binary(t)

	const chat = "id: 1\ndata: hello <b>&</b>\n\n" +
		"event: note\ndata: two\ndata: lines \"quoted\"\n\n" +
		": comment\nretry: 10\n\n" +
		"data: é\x01\t\n\n"
	tests := []struct {
		name       string
		steps      []http.HandlerFunc
		args       []string
		stdin      string
		wantStdout string
		wantCode   int
		wantStderr string // a substring of the single stderr line; "" for none
		check      func(t *testing.T, s *sseServer)
	}{
		{
			name:  "json until 204",
			steps: []http.HandlerFunc{eventStream(chat), eventStream("data: after reconnect\n\nid\ndata: reset\n\n")},
			args:  []string{"-json"},
			wantStdout: `{"type":"message","data":"hello <b>&</b>","id":"1"}` + "\n" +
				`{"type":"note","data":"two\nlines \"quoted\"","id":"1"}` + "\n" +
				`{"type":"message","data":"é\u0001\t","id":"1"}` + "\n" +
				`{"type":"message","data":"after reconnect","id":"1"}` + "\n" +
				`{"type":"message","data":"reset","id":""}` + "\n",
			check: func(t *testing.T, s *sseServer) {
				if r, _ := s.request(1); r.Header.Get("Last-Event-ID") != "1" {
					t.Errorf("reconnection sent Last-Event-ID %q, want 1", r.Header.Get("Last-Event-ID"))
				}
			},
		},
		{
			name:       "max events",
			steps:      []http.HandlerFunc{endless("data: a\n\ndata: b\n\ndata: c\n\n")},
			args:       []string{"--json", "--max-events", "2"},
			wantStdout: "{\"type\":\"message\",\"data\":\"a\",\"id\":\"\"}\n{\"type\":\"message\",\"data\":\"b\",\"id\":\"\"}\n",
		},
		{
			name:       "end marker",
			steps:      []http.HandlerFunc{endless("data: {\"x\":1}\n\ndata: [DONE]\n\n")},
			args:       []string{"-json", "-end", "[DONE]"},
			wantStdout: "{\"type\":\"message\",\"data\":\"{\\\"x\\\":1}\",\"id\":\"\"}\n",
		},
		{
			name:       "readable output",
			steps:      []http.HandlerFunc{eventStream("id: 7\nevent: add\ndata: one\ndata: two\n\ndata: three\n\n")},
			wantStdout: "add  id=7\n  one\n  two\n\nmessage  id=7\n  three\n\n",
		},
		{
			name:  "request flags",
			steps: []http.HandlerFunc{eventStream("data: ok\n\n")},
			args: []string{"-json", "-no-reconnect", "-H", "Authorization: Bearer k", "-H", "X-A: 1",
				"-H", "X-A: 2", "-d", "@-", "-last-event-id", "41"},
			stdin:      `{"stream":true}`,
			wantStdout: "{\"type\":\"message\",\"data\":\"ok\",\"id\":\"41\"}\n",
			check: func(t *testing.T, s *sseServer) {
				r, body := s.request(0)
				if r.Method != "POST" || body != `{"stream":true}` || r.Header.Get("Authorization") != "Bearer k" ||
					strings.Join(r.Header.Values("X-A"), ",") != "1,2" || r.Header.Get("Last-Event-ID") != "41" {
					t.Errorf("request: %s %q %v", r.Method, body, r.Header)
				}
				if len(s.reqs) != 1 {
					t.Errorf("%d requests with -no-reconnect, want 1", len(s.reqs))
				}
			},
		},
		{
			name:       "500",
			steps:      []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) { http.Error(w, "database down\nmore", 500) }},
			args:       []string{"-json"},
			wantCode:   1,
			wantStderr: "ssehub listen: GET URL/: status 500 Internal Server Error: database down (use -retry-server-errors to keep trying)",
		},
		{
			name: "HTML",
			steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "<!doctype html>\n<title>Login</title>")
			}},
			args:       []string{"-json"},
			wantCode:   1,
			wantStderr: `ssehub listen: GET URL/: content type "text/html; charset=utf-8" is not text/event-stream (is this the URL of an event stream?)`,
		},
		{
			name:       "timeout",
			steps:      []http.HandlerFunc{endless("data: a\n\n")},
			args:       []string{"-json", "-timeout", "200ms"},
			wantStdout: "{\"type\":\"message\",\"data\":\"a\",\"id\":\"\"}\n",
			wantCode:   1,
			wantStderr: "ssehub listen: the stream did not end within 200ms (-timeout)",
		},
		{
			name:       "idle timeout",
			steps:      []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
			args:       []string{"-json", "-idle-timeout", "100ms", "-no-reconnect"},
			wantCode:   1,
			wantStderr: "ssehub listen: GET URL/: no data for 100ms: read idle timeout",
		},
		{
			name:       "comments when asked, in order with the events",
			steps:      []http.HandlerFunc{eventStream("\xEF\xBB\xBF: first\nid: 1\n:between fields\ndata: a\n\n: ping\n\n")},
			args:       []string{"-comments"},
			wantStdout: ": first\n: between fields\nmessage  id=1\n  a\n\n: ping\n",
		},
		{
			name:       "comments as JSON",
			steps:      []http.HandlerFunc{eventStream(": hi \"x\"\ndata: a\n\n")},
			args:       []string{"-json", "-comments"},
			wantStdout: "{\"comment\":\"hi \\\"x\\\"\"}\n{\"type\":\"message\",\"data\":\"a\",\"id\":\"\"}\n",
		},
		{
			name:       "no comments unless asked",
			steps:      []http.HandlerFunc{eventStream(": hi\ndata: a\n\n")},
			args:       []string{"-json"},
			wantStdout: "{\"type\":\"message\",\"data\":\"a\",\"id\":\"\"}\n",
		},
		{
			name:       "a 5 MiB event is printed under the default limits",
			steps:      []http.HandlerFunc{eventStream("data: " + strings.Repeat("x", 5<<20) + "\n\n")},
			args:       []string{"-json"},
			wantStdout: "{\"type\":\"message\",\"data\":\"" + strings.Repeat("x", 5<<20) + "\",\"id\":\"\"}\n",
		},
		{
			name:       "max event bytes",
			steps:      []http.HandlerFunc{eventStream("data: " + strings.Repeat("x", 200) + "\n\n")},
			args:       []string{"-json", "-max-event-bytes", "100"},
			wantCode:   1,
			wantStderr: "ssehub listen: GET URL/: sse: event too large: data exceeds 100 bytes at line 1 (is this the URL of an event stream?)",
		},
		{
			name:       "max line bytes",
			steps:      []http.HandlerFunc{eventStream(": " + strings.Repeat("x", 200) + "\n\n")},
			args:       []string{"-json", "-max-line-bytes", "100"},
			wantCode:   1,
			wantStderr: "ssehub listen: GET URL/: sse: line too long: line 1 is 202 bytes, the limit is 100 (is this the URL of an event stream?)",
		},
		{
			name:       "no URL",
			args:       []string{"-json"},
			wantCode:   2,
			wantStderr: "ssehub listen: want exactly one URL, got 0 arguments",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSSEServer(t, tt.steps...)
			args := append([]string{"listen"}, tt.args...)
			if tt.name != "no URL" {
				args = append(args, s.URL+"/")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(os.Environ(), "SSEHUB_JSON=")
			cmd.Stdin = strings.NewReader(tt.stdin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if ctx.Err() != nil {
				t.Fatal("ssehub listen did not exit within 20s")
			}
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.wantCode, stderr.String())
			}
			if got := stdout.String(); got != tt.wantStdout {
				t.Errorf("stdout:\n%q\nwant:\n%q", got, tt.wantStdout)
			}
			wantStderr := strings.ReplaceAll(tt.wantStderr, "URL/", s.URL+"/")
			gotStderr := stderr.String()
			if wantStderr == "" && gotStderr != "" {
				t.Errorf("stderr = %q, want nothing", gotStderr)
			}
			if wantStderr != "" {
				if first, _, _ := strings.Cut(gotStderr, "\n"); first != wantStderr {
					t.Errorf("stderr first line:\n%s\nwant:\n%s", first, wantStderr)
				}
				if tt.wantCode == 1 && strings.Count(gotStderr, "\n") != 1 {
					t.Errorf("stderr has %d lines, want 1: %q", strings.Count(gotStderr, "\n"), gotStderr)
				}
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func TestListen_HeaderFlagRejectsMalformedHeaders(t *testing.T) {
	var stderr bytes.Buffer
	m := &Main{Stdout: io.Discard, Stderr: &stderr, Stdin: strings.NewReader("")}
	if code := m.Run(context.Background(), []string{"listen", "-H", "no colon", "http://127.0.0.1:1/"}); code != exitUsage {
		t.Fatalf("exit code %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr.String(), `header "no colon": want 'Name: value'`) {
		t.Errorf("stderr = %q", stderr.String())
	}
}

func TestListen_FlagsMayFollowTheURLAndComeFromTheEnvironment(t *testing.T) {
	s := newSSEServer(t, endless("data: a\n\ndata: b\n\n"))
	var stdout, stderr bytes.Buffer
	m := &Main{Stdout: &stdout, Stderr: &stderr, Stdin: strings.NewReader(""), Getenv: func(k string) string {
		if k == "SSEHUB_MAX_EVENTS" {
			return "1"
		}
		return ""
	}}
	if code := m.Run(context.Background(), []string{"listen", s.URL, "-json"}); code != exitOK {
		t.Fatalf("exit code %d, stderr %q", code, stderr.String())
	}
	if want := "{\"type\":\"message\",\"data\":\"a\",\"id\":\"\"}\n"; stdout.String() != want {
		t.Errorf("stdout = %q, want %q", stdout.String(), want)
	}
}
