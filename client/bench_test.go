package client

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/sse"
)

// BenchmarkClient_Throughput measures events per second through the client
// over one loopback connection: 100-byte events with an id, as a hub sends.
func BenchmarkClient_Throughput(b *testing.B) {
	data := strings.Repeat("x", 100)
	var batch []byte
	for i := range 64 {
		ev := sse.Event{ID: strconv.Itoa(i), Data: data}
		batch, _ = ev.AppendTo(batch)
	}
	s := newServer(b, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		openStream(w)
		for sent := 0; sent < n; sent += 64 {
			if _, err := w.Write(batch); err != nil {
				return
			}
		}
	})
	c := s.client("/?n=" + strconv.Itoa(b.N))
	c.NoReconnect = true
	b.ReportAllocs()
	b.SetBytes(int64(len(batch) / 64))
	b.ResetTimer()
	got := 0
	err := c.Run(context.Background(), func(sse.Event) error {
		got++
		return nil
	})
	if err != nil || got < b.N {
		b.Fatalf("Run = %v after %d events, want nil after at least %d", err, got, b.N)
	}
}
