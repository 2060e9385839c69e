package hub_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/store/memory"
)

func BenchmarkEncode(b *testing.B) {
	u := &hub.Update{ID: "urn:uuid:5e94c686-2c0b-4f9b-958c-92ccc3bbb4eb", Type: "book", Data: `{"@id":"/books/1","title":"x"}` + "\n" + `{"more":true}`}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		ev := u.Event()
		buf, _ = ev.AppendTo(buf[:0])
	}
}

func BenchmarkMatchTemplateCached(b *testing.B) {
	var m hub.Matcher
	b.ReportAllocs()
	for b.Loop() {
		m.Match("https://example.com/books/{id}", "https://example.com/books/42")
	}
}

// BenchmarkFanOut publishes one update to 1000 subscribers sharing 10
// selectors (half templates) and waits until every queue has it.
func BenchmarkFanOut(b *testing.B) {
	h := newHub(b, hub.Config{QueueSize: 1 << 20})
	ctx := context.Background()
	const subs = 1000
	var all []*hub.Subscription
	for i := range subs {
		sel := fmt.Sprintf("https://example.com/t/%d", i%5)
		if i%2 == 1 {
			sel = fmt.Sprintf("https://example.com/{kind}/%d", i%5)
		}
		s, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{sel}})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		all = append(all, s)
	}
	b.ReportAllocs()
	var buf []*hub.Message
	for i := 0; b.Loop(); i++ {
		if err := h.Publish(ctx, &hub.Update{Topics: []string{"https://example.com/t/1"}, Data: "x"}); err != nil {
			b.Fatal(err)
		}
		// One in five subscribers matches; drain them all.
		for j := 1; j < subs; j += 5 {
			for {
				var err error
				buf, err = all[j].Drain(ctx, buf[:0])
				if err != nil {
					b.Fatal(err)
				}
				if len(buf) > 0 {
					break
				}
				<-all[j].Ready()
			}
		}
	}
	b.ReportMetric(float64(subs/5), "deliveries/op")
}

// BenchmarkFanOutBatched publishes batch updates to 1000 subscribers of one
// topic before draining them, as a busy hub does: the cost per delivery of
// dispatch, enqueue and Drain when the readers are not woken per update.
func BenchmarkFanOutBatched(b *testing.B) {
	const subs, batch = 1000, 10
	h := newHub(b, hub.Config{QueueSize: 1 << 20})
	ctx := context.Background()
	var all []*hub.Subscription
	for range subs {
		s, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"https://example.com/t"}})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		all = append(all, s)
	}
	b.ReportAllocs()
	var buf []*hub.Message
	for b.Loop() {
		for range batch {
			if err := h.Publish(ctx, &hub.Update{Topics: []string{"https://example.com/t"}, Data: "x"}); err != nil {
				b.Fatal(err)
			}
		}
		for _, s := range all {
			for n := 0; n < batch; {
				var err error
				buf, err = s.Drain(ctx, buf[:0])
				if err != nil {
					b.Fatal(err)
				}
				n += len(buf)
				if n < batch {
					<-s.Ready()
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs*batch), "ns/delivery")
}

// BenchmarkReplay resumes one subscriber from the first of 5,000 updates in
// history, with and without the hub's cache of encoded updates.
func BenchmarkReplay(b *testing.B) {
	for _, c := range []struct {
		name  string
		cache int
	}{{"FromStore", -1}, {"FromCache", 8192}} {
		b.Run(c.name, func(b *testing.B) {
			st := memory.New(memory.Options{MaxUpdates: 10000})
			b.Cleanup(func() { st.Close() })
			h, err := hub.New(hub.Config{Store: st, ReplayCache: c.cache, QueueSize: 10000})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { h.Close() })
			ctx := context.Background()
			watcher, _ := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"*"}})
			const n = 5000
			data := strings.Repeat("x", 200)
			for i := range n {
				if err := h.Publish(ctx, &hub.Update{ID: fmt.Sprint(i), Topics: []string{"t"}, Data: data}); err != nil {
					b.Fatal(err)
				}
			}
			var got []*hub.Message
			for len(got) < n { // the follower has fanned out all of them
				if got, err = watcher.Receive(ctx, got); err != nil {
					b.Fatal(err)
				}
			}
			watcher.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				s, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"t"}, Replay: &hub.Replay{AfterID: "0"}})
				if err != nil {
					b.Fatal(err)
				}
				var msgs []*hub.Message
				for s.Replaying() {
					if msgs, err = s.Drain(ctx, msgs[:0]); err != nil {
						b.Fatal(err)
					}
				}
				s.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(n-1)), "ns/update")
		})
	}
}
