package natsstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/hubtest"
	"github.com/ssehub/ssehub/idempotency"
	"github.com/ssehub/ssehub/idempotency/idempotencytest"
	"github.com/ssehub/ssehub/internal/servertest"
	"github.com/ssehub/ssehub/mercure/mercuretest"
	"github.com/ssehub/ssehub/store/natsstore"
)

// open returns a store on addr in a fresh stream, deleted at cleanup.
func open(t *testing.T, addr string, opts natsstore.Options) *natsstore.Store {
	t.Helper()
	opts.URL = "nats://" + addr
	if opts.Stream == "" {
		opts.Stream = servertest.Unique("TEST")
	}
	s, err := natsstore.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		nc, err := nats.Connect(opts.URL)
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := jetstream.New(nc); err == nil {
			js.DeleteStream(context.Background(), opts.Stream)
			js.DeleteKeyValue(context.Background(), opts.Stream+"_IDEMPOTENCY")
		}
	})
	return s
}

func TestStore(t *testing.T) {
	addr := servertest.SharedNATS(t)
	hubtest.TestStore(t, func(t *testing.T) hub.Store { return open(t, addr, natsstore.Options{}) })
}

func TestProtocol(t *testing.T) {
	addr := servertest.SharedNATS(t)
	mercuretest.Run(t, func(t *testing.T) hub.Store { return open(t, addr, natsstore.Options{}) })
}

func TestStore_HistoryIsTrimmedByCountAndAge(t *testing.T) {
	addr := servertest.SharedNATS(t)
	// The server applies the limits with its own clock: the age test waits
	// for it (MaxAge 1s, bounded poll).
	tests := []struct {
		name   string
		opts   natsstore.Options
		expire bool // wait for the server to expire the first updates
		want   []string
	}{
		{"count keeps the newest MaxUpdates", natsstore.Options{MaxUpdates: 3}, false, []string{"c", "d", "e"}},
		{"age drops updates older than MaxAge", natsstore.Options{MaxAge: time.Second}, true, []string{"e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, addr, tt.opts)
			waitForExpiry := func() {
				deadline := time.Now().Add(servertest.Wait)
				for tt.expire && len(hubtest.ReadIDs(t, s)) > 0 { // the server expires them
					if time.Now().After(deadline) {
						t.Fatal("updates older than MaxAge were not expired")
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			hubtest.TestTrimmed(t, s, waitForExpiry, tt.want...)
		})
	}
}

func TestStore_TwoNodesShareOneOrderAndDuplicateIDs(t *testing.T) {
	addr := servertest.SharedNATS(t)
	stream := servertest.Unique("TWO")
	hubtest.TestTwoNodes(t, open(t, addr, natsstore.Options{Stream: stream}), open(t, addr, natsstore.Options{Stream: stream}))
}

func TestIdempotency(t *testing.T) {
	addr := servertest.SharedNATS(t)
	idempotencytest.TestStore(t, func(t *testing.T) idempotency.Store { return open(t, addr, natsstore.Options{}) })
}

func TestIdempotency_TwoNodesShareTheKeys(t *testing.T) {
	addr := servertest.SharedNATS(t)
	stream := servertest.Unique("IDEM")
	idempotencytest.TestTwoNodes(t, open(t, addr, natsstore.Options{Stream: stream}), open(t, addr, natsstore.Options{Stream: stream}))
}

func TestStore_OutageRefusesAppendsAndFollowResumesWithoutGap(t *testing.T) {
	srv := servertest.StartNATS(t)
	hubtest.TestOutage(t, open(t, srv.Addr, natsstore.Options{MaxUpdates: 100000}), srv.Stop, srv.Start)
}

func TestStore_HistoryIsBoundedInBytes(t *testing.T) {
	addr := servertest.SharedNATS(t)
	hubtest.TestByteBound(t, func(t *testing.T, maxBytes int64) hub.Store {
		return open(t, addr, natsstore.Options{MaxBytes: maxBytes})
	})
}

func TestStore_NodesSharingTheStoreSeeEachOtherUntilTheirAnnouncementExpires(t *testing.T) {
	addr := servertest.SharedNATS(t)
	stream := servertest.Unique("NODES")
	a, b := open(t, addr, natsstore.Options{Stream: stream}), open(t, addr, natsstore.Options{Stream: stream})
	t.Cleanup(func() { deleteBucket(t, addr, a.NodesBucket()) })
	hubtest.TestPresence(t, a, b)
}

// deleteBucket removes a key-value bucket a test created.
func deleteBucket(t *testing.T, addr, bucket string) {
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Logf("deleting bucket %s: %v", bucket, err)
		return
	}
	defer nc.Close()
	if js, err := jetstream.New(nc); err == nil {
		js.DeleteKeyValue(context.Background(), bucket)
	}
}
