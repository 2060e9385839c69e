package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ssehub/ssehub/client"
	"github.com/ssehub/ssehub/demo"
	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/durableclient"
	"github.com/ssehub/ssehub/internal/flakynet"
	"github.com/ssehub/ssehub/resumable"
	"github.com/ssehub/ssehub/sse"
)

// roundRobin sends each request to the next node, as a load balancer that
// spreads reconnections would, over connections that break after budget
// bytes: enough for the response headers and an event or three.
type roundRobin struct {
	nodes []*url.URL
	next  atomic.Int64
	used  []atomic.Int64
	base  *http.Transport
}

func newRoundRobin(nodes []*server, budget int) *roundRobin {
	rr := &roundRobin{used: make([]atomic.Int64, len(nodes))}
	for _, n := range nodes {
		u, _ := url.Parse(n.url)
		rr.nodes = append(rr.nodes, u)
	}
	rr.base = flakynet.Transport(func() int { return budget })
	return rr
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	i := int(rr.next.Add(1)-1) % len(rr.nodes)
	rr.used[i].Add(1)
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host, r.Host = rr.nodes[i].Scheme, rr.nodes[i].Host, rr.nodes[i].Host
	return rr.base.RoundTrip(r)
}

// TestCluster_ResumableStreamAcrossNodes reads the demo's resumable poem
// with the Go client over three nodes sharing Redis or NATS, each
// connection breaking after a few hundred bytes and each reconnection going
// to the next node: the poem must arrive whole, every piece once and in
// order, and end with the done event. The same answer, read by the Durable
// Streams client at its /v1/stream/ URL on another node, holds exactly the
// events the reader got.
func TestCluster_ResumableStreamAcrossNodes(t *testing.T) {
	for _, tt := range sharedStores("resume", "") {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			storeURL := tt.store(t)
			nodes := startNodes(t, 3, "-store", storeURL, "-demo-delay", "15ms")
			const readers = 4
			rrs := make([]*roundRobin, readers)
			var wg sync.WaitGroup
			errs := make([]error, readers)
			for r := range readers {
				rrs[r] = newRoundRobin(nodes, 700+100*r)
				wg.Add(1)
				go func() {
					defer wg.Done()
					var evs []sse.Event
					if evs, errs[r] = readPoem(rrs[r], nodes[0].url+"/sse/stream"); errs[r] == nil {
						errs[r] = sameAnswer(nodes[r%len(nodes)].url, evs)
					}
				}()
			}
			wg.Wait()
			for r, err := range errs {
				if err != nil {
					t.Errorf("reader %d: %v", r, err)
				}
			}
			for r, rr := range rrs {
				var used []int64
				for i := range rr.used {
					used = append(used, rr.used[i].Load())
				}
				if used[0] == 0 || used[1] == 0 || used[2] == 0 {
					t.Errorf("reader %d used the nodes %v times: not every node served it", r, used)
				}
			}
		})
	}
}

// readPoem reads one resumable demo stream to its end and checks it.
func readPoem(rr *roundRobin, streamURL string) ([]sse.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	c := &client.Client{URL: streamURL, HTTPClient: &http.Client{Transport: rr}, MaxAttempts: 200}
	var evs []sse.Event
	for ev, err := range c.Events(ctx) {
		if err != nil {
			return nil, fmt.Errorf("after %d events: %w", len(evs), err)
		}
		evs = append(evs, ev)
	}
	if len(evs) < 3 || evs[0].Type != "ping" || evs[len(evs)-1].Type != demo.DoneEvent {
		return nil, fmt.Errorf("stream does not go from ping to done: %d events", len(evs))
	}
	stream, _, _ := resumable.ParseEventID(evs[0].ID)
	var text strings.Builder
	for i, ev := range evs {
		if want := stream + "/" + durable.FormatOffset(uint64(i+1)); ev.ID != want {
			return nil, fmt.Errorf("event %d has id %s, want %s: a piece was lost or repeated", i, ev.ID, want)
		}
		if i == 0 || i == len(evs)-1 {
			continue
		}
		var p demo.Piece
		if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
			return nil, fmt.Errorf("event %s: %w", ev.ID, err)
		}
		text.WriteString(p.Content)
	}
	if text.String() != demo.Poem {
		return nil, fmt.Errorf("the pieces make %q, want the poem", text.String())
	}
	return evs, nil
}

// sameAnswer reads the answer of evs with the Durable Streams client at
// its URL on the node at base and checks that it holds the same events.
func sameAnswer(base string, evs []sse.Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	id, _, _ := resumable.ParseEventID(evs[0].ID)
	u := base + durable.DefaultPrefix + resumable.DefaultPrefix + id
	chunk, err := (&durableclient.Client{}).Read(ctx, u, durableclient.Start)
	if err != nil {
		return err
	}
	var msgs []struct{ Type, Data string }
	if err := json.Unmarshal(chunk.Data, &msgs); err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	if len(msgs) != len(evs) || !chunk.Closed {
		return fmt.Errorf("%s holds %d messages (closed %v), the reader got %d events", u, len(msgs), chunk.Closed, len(evs))
	}
	for i, m := range msgs {
		if m.Type == "" {
			m.Type = "message"
		}
		if m.Type != evs[i].Type || m.Data != evs[i].Data {
			return fmt.Errorf("%s message %d is %s %q, the reader got %s %q", u, i, m.Type, m.Data, evs[i].Type, evs[i].Data)
		}
	}
	return nil
}
