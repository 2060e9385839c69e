package console_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/internal/servertest"
	"github.com/ssehub/ssehub/store"
	"github.com/ssehub/ssehub/store/natsstore"
)

// openStore opens the store at url, closed at cleanup.
func openStore(t *testing.T, url string) hub.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestConsole_TwoNodesSharingAStoreEachListBoth(t *testing.T) {
	tests := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"on Redis", func(t *testing.T) string {
			return "redis://" + servertest.SharedRedis(t) + "/0?key=" + servertest.Unique("console")
		}},
		{"on NATS", func(t *testing.T) string {
			addr := servertest.SharedNATS(t)
			stream := servertest.Unique("CONSOLE")
			t.Cleanup(func() { deleteNATSStream(t, addr, stream) })
			// A small byte bound: JetStream reserves it on the shared server.
			return "nats://" + addr + "?bytes=1048576&stream=" + stream
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url(t)
			a := start(t, openStore(t, url), "node-a")
			b := start(t, openStore(t, url), "node-b")
			if ns, ok := b.hub.Store().(*natsstore.Store); ok {
				t.Cleanup(func() { deleteNATSBucket(t, servertest.SharedNATS(t), ns.NodesBucket()) })
			}
			sub, err := b.hub.Subscribe(context.Background(), hub.SubscribeRequest{Selectors: []string{"*"}})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			hello, next := events(t, a)
			if !hello.Shared {
				t.Fatalf("hello %+v: the store should be shared", hello)
			}
			deadline := time.Now().Add(servertest.Wait)
			for {
				s := next()
				if len(s.Nodes) == 2 && s.Nodes[0].ID == "node-a" && s.Nodes[0].Addr == hostOf(a.url) &&
					s.Nodes[1].ID == "node-b" && s.Nodes[1].Addr == hostOf(b.url) && s.Nodes[1].Subscribers == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node a lists %+v (%s); want node-a and node-b with its subscriber", s.Nodes, s.NodesError)
				}
			}
			// A node that stops vanishes from the list by itself.
			b.ui.Close()
			for {
				s := next()
				if len(s.Nodes) == 1 && s.Nodes[0].ID == "node-a" {
					return
				}
				if time.Now().After(deadline.Add(servertest.Wait)) {
					t.Fatalf("node a still lists %+v after node b stopped", s.Nodes)
				}
			}
		})
	}
}

func hostOf(url string) string { return url[len("http://"):] }

func deleteNATSStream(t *testing.T, addr, stream string) {
	withJetStream(t, addr, func(js jetstream.JetStream) { js.DeleteStream(context.Background(), stream) })
}

func deleteNATSBucket(t *testing.T, addr, bucket string) {
	withJetStream(t, addr, func(js jetstream.JetStream) { js.DeleteKeyValue(context.Background(), bucket) })
}

func withJetStream(t *testing.T, addr string, f func(jetstream.JetStream)) {
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Logf("cleaning up NATS: %v", err)
		return
	}
	defer nc.Close()
	if js, err := jetstream.New(nc); err == nil {
		f(js)
	}
}
