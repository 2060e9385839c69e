package natsstore_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
func openStreams(t testing.TB, addr, name string) *natsstore.Streams {
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

func TestStreams_AnAppendLargerThanOneNATSMessageIs413AndLosesNothing(t *testing.T) {
	addr := servertest.SharedNATS(t)
	st := openStreams(t, addr, "")
	srv, err := durable.New(durable.Config{Store: st, MaxBodyBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", int(nc.MaxPayload())+1)
	nc.Close()

	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+srv.Prefix()+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/plain")
		res, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, msg := do("PUT", "s", "kept,"); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, msg)
	}
	if code, msg := do("POST", "s", big); code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "at most") {
		t.Fatalf("an append of %d bytes: %d %q, want 413 saying how much fits", len(big), code, msg)
	}
	if code, msg := do("POST", "s", "more"); code != http.StatusNoContent {
		t.Fatalf("an append after the refused one: %d %s", code, msg)
	}
	if code, body := do("GET", "s?offset=-1", ""); code != http.StatusOK || body != "kept,more" {
		t.Fatalf("read after a refused append: %d %q, want kept,more (nothing lost, nothing of the refused one)", code, body)
	}
	if code, msg := do("PUT", "big", big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a create with an initial body of %d bytes: %d %q, want 413", len(big), code, msg)
	}
	if code, _ := do("HEAD", "big", ""); code != http.StatusNotFound {
		t.Fatalf("HEAD after a refused create: %d, want 404", code)
	}
	_, err = st.Append(context.Background(), "s", durable.AppendRequest{ContentType: "text/plain", Data: []byte(big), Units: uint64(len(big))})
	var tl *durable.TooLargeError
	if !errors.As(err, &tl) || tl.Size != len(big) || tl.Max <= 0 || tl.Max >= len(big) {
		t.Fatalf("Append of %d bytes: %v, want a *durable.TooLargeError saying how much fits", len(big), err)
	}
}

func BenchmarkStreams(b *testing.B) {
	addr := servertest.SharedNATS(b)
	durabletest.BenchmarkStore(b, func(b *testing.B) durable.Store { return openStreams(b, addr, "") })
}
