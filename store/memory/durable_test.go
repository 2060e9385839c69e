package memory

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/durable/durabletest"
)

func TestStreams(t *testing.T) {
	durabletest.TestStore(t, func(t *testing.T) durable.Store { return NewStreams(StreamsOptions{}) })
}

func BenchmarkStreams(b *testing.B) {
	durabletest.BenchmarkStore(b, func(b *testing.B) durable.Store { return NewStreams(StreamsOptions{}) })
}

// BenchmarkStreams_IdleStreamBytes reports the heap that 100,000 idle
// streams of 100 bytes each hold, per stream.
func BenchmarkStreams_IdleStreamBytes(b *testing.B) {
	const n = 100_000
	data := bytes.Repeat([]byte("x"), 100)
	for range b.N {
		s := NewStreams(StreamsOptions{})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			req := durable.CreateRequest{StreamConfig: durable.StreamConfig{ContentType: "text/plain"}, Data: data, Units: uint64(len(data))}
			if _, err := s.Create(context.Background(), fmt.Sprintf("idle-%d", i), req); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/stream")
		s.Close()
	}
}
