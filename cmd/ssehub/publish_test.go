package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordingHub is a stand-in for a Mercure hub's publish endpoint: it records the
// last request and answers with status and body.
type recordingHub struct {
	*httptest.Server
	form   url.Values
	header http.Header
	method string
}

func newRecordingHub(t *testing.T, status int, body string) *recordingHub {
	h := &recordingHub{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.method = r.Method
		h.header = r.Header.Clone()
		r.ParseForm()
		h.form = r.PostForm
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(h.Close)
	return h
}

func TestPublish_PostsTheMercureFormAndPrintsTheID(t *testing.T) {
	h := newRecordingHub(t, http.StatusOK, "urn:uuid:1234\n")
	code, stdout, stderr := runMain(t, "", map[string]string{"SSEHUB_TOKEN": "jwt.from.env"},
		"publish", "-hub", h.URL, "-topic", "https://example.com/a", "-topic", "b",
		"-data", "hello\nworld", "-id", "42", "-type", "note", "-retry", "1.5s", "-private", "-idempotency-key", "order-42")
	if code != exitOK || stdout != "urn:uuid:1234\n" || stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	want := url.Values{
		"topic": {"https://example.com/a", "b"}, "data": {"hello\nworld"}, "id": {"42"},
		"type": {"note"}, "retry": {"1500"}, "private": {"on"},
	}
	if h.form.Encode() != want.Encode() {
		t.Errorf("form = %v, want %v", h.form, want)
	}
	if h.method != "POST" || h.header.Get("Authorization") != "Bearer jwt.from.env" ||
		h.header.Get("Content-Type") != "application/x-www-form-urlencoded" || h.header.Get("Idempotency-Key") != `"order-42"` {
		t.Errorf("request: %s %v", h.method, h.header)
	}
}

func TestPublish_ReadsDataFromAFileOrStandardInput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "update.json")
	if err := os.WriteFile(file, []byte(`{"from":"file"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ arg, stdin, want string }{
		{"@" + file, "", `{"from":"file"}`},
		{"-", "from stdin\n", "from stdin\n"},
		{"@-", "also stdin", "also stdin"},
	} {
		h := newRecordingHub(t, http.StatusOK, "id")
		if code, _, stderr := runMain(t, tt.stdin, nil, "publish", "-hub", h.URL, "-topic", "t", "-data", tt.arg, "-retry", "250"); code != exitOK {
			t.Fatalf("-data %s: exit %d: %s", tt.arg, code, stderr)
		}
		if got := h.form.Get("data"); got != tt.want {
			t.Errorf("-data %s: data = %q, want %q", tt.arg, got, tt.want)
		}
		if got := h.form.Get("retry"); got != "250" {
			t.Errorf("retry = %q, want 250", got)
		}
		if _, ok := h.form["private"]; ok {
			t.Errorf("private sent without -private")
		}
	}
}

func TestPublish_Failures(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"no topic", 200, "", []string{"-data", "x"}, exitUsage, "ssehub publish: at least one -topic is required\n"},
		{"bad retry", 200, "", []string{"-topic", "t", "-retry", "soon"}, exitUsage, `-retry "soon": want a duration such as 2s or a number of milliseconds`},
		{"stray argument", 200, "", []string{"-topic", "t", "hello"}, exitUsage, `unexpected argument "hello": give the content with -data`},
		{"unauthorized", 401, "invalid JWT\nstack trace", []string{"-topic", "t"}, exitFailure,
			"ssehub publish: POST <hub>: hub answered 401 Unauthorized: invalid JWT (set -token or SSEHUB_TOKEN to a publisher JWT)\n"},
		{"forbidden with token", 403, "", []string{"-topic", "t", "-token", "x"}, exitFailure,
			"ssehub publish: POST <hub>: hub answered 403 Forbidden (check that -token is a publisher JWT for these topics)\n"},
		{"server error", 500, "\n\n  boom  \n", []string{"-topic", "t"}, exitFailure, "ssehub publish: POST <hub>: hub answered 500 Internal Server Error: boom\n"},
		{"missing file", 200, "", []string{"-topic", "t", "-data", "@/does/not/exist"}, exitFailure, "ssehub publish: reading data: open /does/not/exist: no such file or directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRecordingHub(t, tt.status, tt.body)
			code, stdout, stderr := runMain(t, "", nil, append([]string{"publish", "-hub", h.URL}, tt.args...)...)
			if code != tt.wantCode || stdout != "" {
				t.Errorf("exit %d with stdout %q, want %d and nothing", code, stdout, tt.wantCode)
			}
			want := strings.ReplaceAll(tt.wantStderr, "<hub>", h.URL)
			if tt.wantCode == exitUsage && !strings.Contains(stderr, want) || tt.wantCode != exitUsage && stderr != want {
				t.Errorf("stderr = %q, want %q", stderr, want)
			}
		})
	}
}

func TestPublish_UnreachableHubSaysWhatToCheck(t *testing.T) {
	h := newRecordingHub(t, 200, "")
	h.Close()
	code, _, stderr := runMain(t, "", nil, "publish", "-hub", h.URL, "-topic", "t")
	if code != exitFailure || !strings.Contains(stderr, "connection refused (is the hub running there? set -hub)") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
