package durabletest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ssehub/ssehub/durable"
)

// BenchmarkStore measures a durable.Store: appends of 200 bytes one at a
// time, into one stream and spread over 1,000 streams (from GOMAXPROCS×8 goroutines, so
// that a store with group commit can share its syncs), and the fan-out of
// one append to 1,000 waiting readers. open returns a new, empty store;
// BenchmarkStore closes it.
func BenchmarkStore(b *testing.B, open func(b *testing.B) durable.Store) {
	data := make([]byte, 200)
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	req := durable.AppendRequest{ContentType: "text/plain", Data: data, Units: uint64(len(data))}
	appends := func(b *testing.B, streams int) {
		s := open(b)
		defer s.Close()
		ctx := context.Background()
		names := make([]string, streams)
		for i := range names {
			names[i] = fmt.Sprintf("bench-%d", i)
			if _, err := s.Create(ctx, names[i], durable.CreateRequest{StreamConfig: durable.StreamConfig{ContentType: "text/plain"}}); err != nil {
				b.Fatal(err)
			}
		}
		var next atomic.Uint64
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				name := names[next.Add(1)%uint64(streams)]
				if _, err := s.Append(ctx, name, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	}
	b.Run("AppendOneWriter", func(b *testing.B) {
		// One append at a time: the latency of a durable append, with
		// no other writer to share a commit with.
		s := open(b)
		defer s.Close()
		ctx := context.Background()
		if _, err := s.Create(ctx, "one", durable.CreateRequest{StreamConfig: durable.StreamConfig{ContentType: "text/plain"}}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		b.ResetTimer()
		for range b.N {
			if _, err := s.Append(ctx, "one", req); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	})
	b.Run("AppendOneStream", func(b *testing.B) { appends(b, 1) })
	b.Run("Append1000Streams", func(b *testing.B) { appends(b, 1000) })
	b.Run("FanOut1000Waiters", func(b *testing.B) {
		s := open(b)
		defer s.Close()
		ctx := context.Background()
		res, err := s.Create(ctx, "fan", durable.CreateRequest{StreamConfig: durable.StreamConfig{ContentType: "text/plain"}})
		if err != nil {
			b.Fatal(err)
		}
		tail := res.Tail
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			var ready, woken sync.WaitGroup
			for range 1000 {
				ready.Add(1)
				woken.Add(1)
				go func() {
					ready.Done()
					defer woken.Done()
					if err := s.Wait(ctx, "fan", res.ID, tail); err != nil {
						b.Error(err)
					}
				}()
			}
			ready.Wait()
			out, err := s.Append(ctx, "fan", req)
			if err != nil {
				b.Fatal(err)
			}
			woken.Wait()
			tail = out.Tail
		}
	})
}
