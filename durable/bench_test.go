package durable_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/durable/durabletest"
	"github.com/ssehub/ssehub/store/memory"
)

// BenchmarkServer_FanOutSSE: 1,000 SSE readers of one stream; each
// operation appends 200 bytes over HTTP and waits until every reader has
// its data event. It reports the p50 and p99 latency from the append's
// start to a reader's receipt.
func BenchmarkServer_FanOutSSE(b *testing.B) {
	const readers = 1000
	st := memory.NewStreams(memory.StreamsOptions{})
	b.Cleanup(func() { st.Close() })
	u := durabletest.Serve(b, durable.Config{Store: st, SSEDuration: time.Hour}) + "fan"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: readers + 10}}
	req, _ := http.NewRequest("PUT", u, nil)
	req.Header.Set("Content-Type", "text/plain")
	if res, err := hc.Do(req); err != nil || res.StatusCode != 201 {
		b.Fatalf("create: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	var start time.Time
	var lat []time.Duration
	got := make(chan struct{}, readers)
	var connected sync.WaitGroup
	for range readers {
		connected.Add(1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", u+"?offset=now&live=sse", nil)
			res, err := hc.Do(req)
			if err != nil {
				connected.Done()
				return
			}
			defer res.Body.Close()
			r := bufio.NewReader(res.Body)
			first := true
			for {
				line, err := r.ReadBytes('\n')
				if err != nil {
					return
				}
				if first && bytes.HasPrefix(line, []byte("data:{")) {
					first = false
					connected.Done() // the first control event: live from now on
					continue
				}
				if bytes.HasPrefix(line, []byte("data:x")) {
					mu.Lock()
					lat = append(lat, time.Since(start))
					mu.Unlock()
					got <- struct{}{}
				}
			}
		}()
	}
	connected.Wait()
	payload := "x" + strings.Repeat("y", 199)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		mu.Lock()
		start = time.Now()
		mu.Unlock()
		req, _ := http.NewRequest("POST", u, strings.NewReader(payload))
		req.Header.Set("Content-Type", "text/plain")
		res, err := hc.Do(req)
		if err != nil || res.StatusCode != 204 {
			b.Fatalf("append: %v", err)
		}
		res.Body.Close()
		for range readers {
			<-got
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}
