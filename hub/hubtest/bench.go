package hubtest

import (
	"context"
	"fmt"
	"testing"

	"github.com/ssehub/ssehub/hub"
)

// BenchmarkPublishToDelivery measures one update's trip through store: a
// Hub on it with one subscriber; each iteration publishes an update and
// waits until the subscriber has it. Store packages call it from their own
// BenchmarkPublishToDelivery.
func BenchmarkPublishToDelivery(b *testing.B, store hub.Store) {
	h, err := hub.New(hub.Config{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*Timeout)
	defer cancel()
	sub, err := h.Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"https://example.com/bench"}})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	var msgs []*hub.Message
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		u := &hub.Update{ID: fmt.Sprint("bench-", i), Topics: []string{"https://example.com/bench"}, Data: "payload of a typical size, a few dozen bytes"}
		if err := h.Publish(ctx, u); err != nil {
			b.Fatal(err)
		}
		for len(msgs) == 0 {
			if msgs, err = sub.Receive(ctx, msgs[:0]); err != nil {
				b.Fatalf("update %d not delivered: %v", i, err)
			}
		}
		msgs = msgs[:0]
	}
}
