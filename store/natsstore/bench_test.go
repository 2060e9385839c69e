package natsstore_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub/hubtest"
	"github.com/ssehub/ssehub/internal/servertest"
	"github.com/ssehub/ssehub/store/natsstore"
)

func BenchmarkPublishToDelivery(b *testing.B) {
	url := "nats://" + servertest.SharedNATS(b)
	stream := servertest.Unique("BENCH")
	s, err := natsstore.Open(b.Context(), natsstore.Options{URL: url, Stream: stream})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if nc, err := nats.Connect(url); err == nil {
			if js, err := jetstream.New(nc); err == nil {
				js.DeleteStream(context.Background(), stream)
			}
			nc.Close()
		}
	}()
	defer s.Close()
	hubtest.BenchmarkPublishToDelivery(b, s)
}
