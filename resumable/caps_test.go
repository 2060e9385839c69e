package resumable

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// Issue 11, finding 6: requests that start a stream and drop it at once
// leave their producer running, by design; the caps bound how many run.
func TestStreams_RunningProducersAreCappedPerClientAndInTotal(t *testing.T) {
	p := newStepProducer() // never ends by itself
	n := newNodeWith(t, memoryStore(t), Options{MaxProducers: 3, MaxProducersPerClient: 2,
		ClientKey: func(r *http.Request) string { return r.Header.Get("X-Client") }}, p.produce)
	start := func(client string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, n.url, nil)
		req.Header.Set("X-Client", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // read the status, leave: the producer runs on
		return resp
	}
	var first string
	for _, tt := range []struct {
		client string
		status int
	}{
		{"a", http.StatusOK}, {"a", http.StatusOK}, {"a", http.StatusTooManyRequests},
		{"b", http.StatusOK}, {"c", http.StatusServiceUnavailable},
	} {
		resp := start(tt.client)
		if resp.StatusCode != tt.status {
			t.Fatalf("client %s: status %d, want %d", tt.client, resp.StatusCode, tt.status)
		}
		if tt.status != http.StatusOK && resp.Header.Get("Retry-After") == "" {
			t.Fatalf("client %s: %d without Retry-After", tt.client, resp.StatusCode)
		}
		if tt.status == http.StatusOK {
			select {
			case id := <-p.ids:
				if first == "" {
					first = id
				}
			case <-time.After(wait):
				t.Fatal("a producer did not start")
			}
		}
	}
	if got := n.streams.producersRunning(); got != 3 {
		t.Fatalf("%d producers running, want 3", got)
	}
	if _, err := n.streams.Start(t.Context(), p.produce); !errors.Is(err, ErrTooManyProducers) {
		t.Fatalf("Start at the cap: %v, want ErrTooManyProducers", err)
	}
	// A finished stream frees its place for its client.
	if err := n.streams.Cancel(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for n.streams.producersRunning() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the canceled producer is still counted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if resp := start("a"); resp.StatusCode != http.StatusOK {
		t.Fatalf("client a after one of its streams ended: %d, want 200", resp.StatusCode)
	}
}

func TestStreams_AClientIsItsAddressByDefault(t *testing.T) {
	p := newStepProducer()
	n := newNodeWith(t, memoryStore(t), Options{MaxProducersPerClient: 1}, p.produce)
	for _, want := range []int{http.StatusOK, http.StatusTooManyRequests} {
		resp, err := http.Get(n.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("status %d, want %d", resp.StatusCode, want)
		}
	}
}
