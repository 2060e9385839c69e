package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/store/memory"
)

// durableServer serves Durable Streams from memory with cfg, and reports
// the offset of every live SSE request on the returned channel.
func durableServer(t *testing.T, cfg durable.Config) (string, <-chan string) {
	t.Helper()
	st := memory.NewStreams(memory.StreamsOptions{})
	t.Cleanup(func() { st.Close() })
	cfg.Store = st
	srv, err := durable.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	offsets := make(chan string, 100)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Query().Get("live") == "sse" {
			select {
			case offsets <- r.URL.Query().Get("offset"):
			default:
			}
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL + srv.Prefix(), offsets
}

func TestListen_ADurableStreamIsFollowedAcrossReconnectionsFromItsLastOffsetUntilItCloses(t *testing.T) {
	// The server ends each SSE response after 100 ms, so listen must
	// reconnect from its offset between the appends.
	base, offsets := durableServer(t, durable.Config{SSEDuration: 100 * time.Millisecond})
	u := base + "answer"
	if code, _, stderr := runMain(t, "", nil, "stream", "create", "-d", "one ", u); code != exitOK {
		t.Fatalf("create: %s", stderr)
	}
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := runMain(t, "", nil, "listen", u) // detected by its /v1/stream/ path
		done <- result{code, stdout, stderr}
	}()
	next := func() string {
		select {
		case o := <-offsets:
			return o
		case r := <-done:
			t.Fatalf("listen ended early: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
		case <-time.After(10 * time.Second):
			t.Fatal("listen did not connect")
		}
		return ""
	}
	if o := next(); o != "-1" {
		t.Fatalf("first request from offset %q, want -1", o)
	}
	if code, _, stderr := runMain(t, "", nil, "stream", "append", "-d", "two ", u); code != exitOK {
		t.Fatalf("append: %s", stderr)
	}
	resumed := next()
	if resumed != durable.FormatOffset(4) && resumed != durable.FormatOffset(8) {
		t.Fatalf("reconnected from offset %q, want the one after what it had printed (4 or 8)", resumed)
	}
	if code, _, stderr := runMain(t, "", nil, "stream", "append", "-d", "three", "-close", u); code != exitOK {
		t.Fatalf("append and close: %s", stderr)
	}
	select {
	case r := <-done:
		if r.code != exitOK || r.stdout != "one two three" {
			t.Fatalf("listen: exit %d, stdout %q, want 0 and every byte once, in order; stderr %s", r.code, r.stdout, r.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("listen did not stop at the closure")
	}
}

func TestListen_DurableJSONPrintsEachChunkWithTheOffsetAfterIt(t *testing.T) {
	base, _ := durableServer(t, durable.Config{})
	u := base + "j"
	runMain(t, "", nil, "stream", "create", "-d", "ab", "-close", u)
	code, stdout, stderr := runMain(t, "", nil, "listen", "-durable", "-json", "-offset", durable.FormatOffset(1), u)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Data, Offset string
		Closed       bool
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || got.Data != "b" || got.Offset != durable.FormatOffset(2) || !got.Closed {
		t.Fatalf("stdout %q (%v), want the data after offset 1, the final offset and closed", stdout, err)
	}
}

func TestListen_ADeletedDurableStreamExitsOneWithTheReason(t *testing.T) {
	base, _ := durableServer(t, durable.Config{})
	code, _, stderr := runMain(t, "", nil, "listen", "-durable", base+"missing")
	if code != exitFailure || !strings.Contains(stderr, "404") {
		t.Fatalf("exit %d, stderr %q; want 1 and the 404", code, stderr)
	}
}
