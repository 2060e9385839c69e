package natsstore_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/durable/durabletest"
	"github.com/ssehub/ssehub/internal/servertest"
	"github.com/ssehub/ssehub/store/natsstore"
)

// openStreams returns Streams on addr in the JetStream stream name (a
// fresh one when empty), deleted at cleanup.
func openStreams(t *testing.T, addr, name string) *natsstore.Streams {
	t.Helper()
	if name == "" {
		name = servertest.Unique("DS")
	}
	url := "nats://" + addr
	s, err := natsstore.OpenStreams(context.Background(), natsstore.StreamsOptions{URL: url, Stream: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		nc, err := nats.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := jetstream.New(nc); err == nil {
			js.DeleteStream(context.Background(), name)
		}
	})
	return s
}

func TestStreams(t *testing.T) {
	addr := servertest.SharedNATS(t)
	durabletest.TestStore(t, func(t *testing.T) durable.Store { return openStreams(t, addr, "") })
}

func TestStreams_TwoNodes(t *testing.T) {
	addr := servertest.SharedNATS(t)
	durabletest.TestNodes(t, func(t *testing.T) (durable.Store, durable.Store) {
		name := servertest.Unique("DS")
		return openStreams(t, addr, name), openStreams(t, addr, name)
	})
}
