package durable_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/durable"
)

// serve starts a Server over a fresh memory store with cfg's limits and
// returns its stream root.
func serve(t *testing.T, cfg durable.Config) string {
	t.Helper()
	ls := startLive(t, cfg, false, 0)
	return ls.ts.URL + ls.s.Prefix()
}

// do sends a request with the default client and a bounded wait.
func do(t *testing.T, method, url string, body string, headers ...string) *http.Response {
	t.Helper()
	return doWith(t, http.DefaultClient, 10*time.Second, method, url, body, headers...)
}

// doWith sends a request with client, waiting at most wait for it and its
// body, and closes the body when the test ends.
func doWith(t *testing.T, client *http.Client, wait time.Duration, method, url, body string, headers ...string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func TestServer_LimitsAnswerWithTheStatusTheSpecNames(t *testing.T) {
	base := serve(t, durable.Config{MaxBodyBytes: 10, MaxTTL: time.Hour})
	do(t, "PUT", base+"s", "", "Content-Type", "text/plain")
	tests := []struct {
		name    string
		method  string
		path    string
		body    string
		headers []string
		want    int
	}{
		{"a body over the limit is 413", "POST", "s", strings.Repeat("x", 11), []string{"Content-Type", "text/plain"}, 413},
		{"a body at the limit is appended", "POST", "s", strings.Repeat("x", 10), []string{"Content-Type", "text/plain"}, 204},
		{"a create body over the limit is 413", "PUT", "big", strings.Repeat("x", 11), []string{"Content-Type", "text/plain"}, 413},
		{"a TTL over the limit is 400", "PUT", "ttl", "", []string{"Stream-TTL", "3601"}, 400},
		{"a TTL at the limit is accepted", "PUT", "ttl", "", []string{"Stream-TTL", "3600"}, 201},
		{"an Expires-At past the limit is 400", "PUT", "at", "", []string{"Stream-Expires-At", time.Now().Add(2 * time.Hour).Format(time.RFC3339)}, 400},
		{"the reserved __ds namespace is not implemented", "GET", "__ds/subscriptions/x", "", nil, 501},
		{"a PUT under __ds creates no stream", "PUT", "__ds/jwks.json", "", nil, 501},
		{"an unknown method is 405", "PATCH", "s", "", nil, 405},
		{"a malformed offset is 400", "GET", "s?offset=abc", "", nil, 400},
		{"an offset past the tail is 400", "GET", "s?offset=0000000000000000_0000000000000099", "", nil, 400},
		{"an unknown live mode is 400", "GET", "s?offset=-1&live=ws", "", nil, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, tt.method, base+tt.path, tt.body, tt.headers...)
			if res.StatusCode != tt.want {
				b, _ := io.ReadAll(res.Body)
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, res.StatusCode, b, tt.want)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatal("no X-Content-Type-Options: nosniff")
			}
		})
	}
}

func TestServer_CreatingAStreamPastMaxStreamsIs507UntilOneIsDeleted(t *testing.T) {
	base := serve(t, durable.Config{MaxStreams: 2})
	steps := []struct {
		name   string
		method string
		path   string
		want   int
	}{
		{"the first stream is created", "PUT", "a", 201},
		{"the second stream is created", "PUT", "b", 201},
		{"a third stream is 507", "PUT", "c", 507},
		{"an idempotent re-create at the limit is 200", "PUT", "a", 200},
		{"deleting a stream makes room", "DELETE", "a", 204},
		{"then the third stream is created", "PUT", "c", 201},
	}
	for _, st := range steps {
		res := do(t, st.method, base+st.path, "", "Content-Type", "text/plain")
		if res.StatusCode != st.want {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("%s: %s %s = %d %s, want %d", st.name, st.method, st.path, res.StatusCode, b, st.want)
		}
		if st.want == 507 {
			if b, _ := io.ReadAll(res.Body); !strings.Contains(string(b), "too many streams") {
				t.Fatalf("%s: message %q does not say why", st.name, b)
			}
		}
	}
}

func TestServer_SSEConnectionsAreClosedAfterSSEDuration(t *testing.T) {
	base := serve(t, durable.Config{SSEDuration: 200 * time.Millisecond})
	do(t, "PUT", base+"s", "hello", "Content-Type", "text/plain")
	res := do(t, "GET", base+"s?offset=-1&live=sse", "")
	sc := bufio.NewScanner(res.Body)
	var lines []string
	for sc.Scan() { // ends when the server closes the response
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("the server did not end the SSE response itself: %v", err)
	}
	got := strings.Join(lines, "\n")
	if !strings.Contains(got, "event: data\ndata:hello") || !strings.Contains(got, `"upToDate":true`) {
		t.Fatalf("SSE body:\n%s", got)
	}
	if strings.Contains(got, "streamClosed") {
		t.Fatal("an open stream's SSE response reported streamClosed")
	}
}

func TestServer_AnSSEReaderGetsLiveAppendsAndTheClosure(t *testing.T) {
	base := serve(t, durable.Config{})
	do(t, "PUT", base+"s", "", "Content-Type", "text/plain")
	res := do(t, "GET", base+"s?offset=-1&live=sse", "")
	r := bufio.NewReader(res.Body)
	readEvent := func() string {
		var ev []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("SSE ended: %v after %q", err, ev)
			}
			if line == "\n" {
				return strings.Join(ev, "")
			}
			ev = append(ev, line)
		}
	}
	if ev := readEvent(); !strings.Contains(ev, `"upToDate":true`) {
		t.Fatalf("first event %q, want an up-to-date control", ev)
	}
	do(t, "POST", base+"s", "one", "Content-Type", "text/plain")
	if ev := readEvent(); ev != "event: data\ndata:one\n" {
		t.Fatalf("event %q, want the append", ev)
	}
	readEvent() // its control
	do(t, "POST", base+"s", "two", "Content-Type", "text/plain", "Stream-Closed", "true")
	if ev := readEvent(); ev != "event: data\ndata:two\n" {
		t.Fatalf("event %q, want the final append", ev)
	}
	if ev := readEvent(); !strings.Contains(ev, `"streamClosed":true`) || strings.Contains(ev, "streamCursor") {
		t.Fatalf("event %q, want a closing control without cursor", ev)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("the response went on after streamClosed: %v", err)
	}
}
