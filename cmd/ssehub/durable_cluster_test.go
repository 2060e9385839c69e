package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/sse"
)

// errCut: an SSE response ended before the stream closed.
var errCut = errors.New("the SSE response ended before the stream closed")

// durableReader follows one Durable Stream over SSE the way a client of the
// protocol does: data counts only once the control event after it gives
// the offset that follows it, and a reconnection resumes from that offset.
type durableReader struct {
	mu     sync.Mutex
	got    bytes.Buffer
	offset string
	closed bool
}

func (r *durableReader) received() (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got.Len(), r.closed
}

// follow reads name on node from the reader's offset until the stream
// closes (nil), the response is cut (errCut) or ctx ends.
func (r *durableReader) follow(ctx context.Context, node, name string) error {
	r.mu.Lock()
	u := node + durable.DefaultPrefix + name + "?live=sse&offset=" + r.offset
	r.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := clusterHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errCut, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var pending []byte
	for ev, err := range sse.Read(resp.Body) {
		if err != nil {
			break
		}
		switch ev.Type {
		case "data":
			pending = append(pending, ev.Data...)
		case "control":
			var c struct {
				StreamNextOffset string
				StreamClosed     bool
			}
			if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
				return fmt.Errorf("control event %q: %v", ev.Data, err)
			}
			r.mu.Lock()
			r.got.Write(pending)
			r.offset, r.closed = c.StreamNextOffset, c.StreamClosed
			r.mu.Unlock()
			pending = pending[:0]
			if c.StreamClosed {
				return nil
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errCut
}

// durableRequest sends one request of the protocol and checks its status.
func durableRequest(t *testing.T, method, u, contentType, body string, header map[string]string, want ...int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := clusterHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	for _, code := range want {
		if resp.StatusCode == code {
			return
		}
	}
	t.Fatalf("%s %s: %s, want %v", method, u, resp.Status, want)
}

// TestDurableCluster_ThreeNodesShareStreams runs three "ssehub serve"
// processes on one Redis or JetStream store of Durable Streams: appends go
// to two nodes in turn, live SSE readers follow on the other nodes, the
// node of half of the readers is SIGKILLed mid-stream and they resume on a
// surviving node from their offset. Every reader must end with every byte
// exactly once, in order, and stop at the stream's closure.
func TestDurableCluster_ThreeNodesShareStreams(t *testing.T) {
	for _, kind := range []string{"redis", "nats"} {
		t.Run("on "+kind, func(t *testing.T) {
			t.Parallel()
			storeURL := sharedStreams(t, kind)
			nodes := startNodes(t, 3, "-store", "memory://", "-durable-store", storeURL)
			name := "answers/" + kind
			stream := func(n int) string { return nodes[n].url + durable.DefaultPrefix + name }
			durableRequest(t, http.MethodPut, stream(0), "text/plain", "", nil, http.StatusCreated)

			ctx, cancel := context.WithTimeout(context.Background(), 2*clusterWait)
			defer cancel()
			type follower struct {
				r       *durableReader
				on, via int // the node it starts on, and the one it resumes on
			}
			var followers []follower
			for range 3 {
				followers = append(followers, follower{&durableReader{offset: durable.OffsetStart}, 1, 1})
				followers = append(followers, follower{&durableReader{offset: durable.OffsetStart}, 2, 1})
			}
			errs := make(chan error, len(followers))
			for _, f := range followers {
				go func() {
					node := f.on
					for {
						err := f.r.follow(ctx, nodes[node].url, name)
						if !errors.Is(err, errCut) {
							errs <- err
							return
						}
						node = f.via // node 2 was killed, or the server ended the response: go on from the offset
					}
				}()
			}

			const pieces = 300
			var want strings.Builder
			for i := range pieces {
				piece := fmt.Sprintf("<%03d>", i)
				durableRequest(t, http.MethodPost, stream(i%2), "text/plain", piece, nil, http.StatusNoContent, http.StatusOK)
				want.WriteString(piece)
				if i == pieces/3 {
					// Every follower has seen data before node 2 goes.
					pollUntil(t, func() bool {
						for _, f := range followers {
							if n, _ := f.r.received(); n == 0 {
								return false
							}
						}
						return true
					}, func() string { return "a follower received nothing before the kill" })
					if err := nodes[2].cmd.Process.Kill(); err != nil {
						t.Fatal(err)
					}
				}
			}
			durableRequest(t, http.MethodPost, stream(0), "", "", map[string]string{"Stream-Closed": "true"}, http.StatusNoContent, http.StatusOK)

			for range followers {
				select {
				case err := <-errs:
					if err != nil {
						t.Fatalf("follower: %v", err)
					}
				case <-ctx.Done():
					t.Fatal("a follower did not reach the stream's closure")
				}
			}
			for i, f := range followers {
				f.r.mu.Lock()
				got, closed := f.r.got.String(), f.r.closed
				f.r.mu.Unlock()
				if got != want.String() || !closed {
					t.Errorf("follower %d (node %d, then %d): %d bytes, closed %v; want all %d bytes exactly once, in order, then closed\n got: %.200q…",
						i, f.on, f.via, len(got), closed, want.Len(), got)
				}
			}
		})
	}
}
