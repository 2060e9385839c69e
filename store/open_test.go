package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ssehub/ssehub/internal/servertest"
	"github.com/ssehub/ssehub/store"
	"github.com/ssehub/ssehub/store/boltstore"
	"github.com/ssehub/ssehub/store/memory"
	"github.com/ssehub/ssehub/store/natsstore"
	"github.com/ssehub/ssehub/store/redisstore"
)

func TestOpen_EachSchemeOpensItsStore(t *testing.T) {
	redisAddr, natsAddr := servertest.SharedRedis(t), servertest.SharedNATS(t)
	dir := t.TempDir()
	tests := []struct {
		name, url string
		is        func(any) bool
	}{
		{"memory with size and age", "memory://?size=10&age=1m", func(s any) bool { _, ok := s.(*memory.Store); return ok }},
		{"bolt with an absolute path", "bolt://" + dir + "/a.db?size=5&timeout=1s", func(s any) bool { _, ok := s.(*boltstore.Store); return ok }},
		{"redis with a key prefix and a database", "redis://" + redisAddr + "/0?key=" + servertest.Unique("open") + "&size=5&dial_timeout=1s", func(s any) bool { _, ok := s.(*redisstore.Store); return ok }},
		{"nats with a stream and a hub", "nats://" + natsAddr + "?stream=" + servertest.Unique("OPEN") + "&hub=h1&size=5&age=1h", func(s any) bool { _, ok := s.(*natsstore.Store); return ok }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tt.url, store.Options{})
			if err != nil {
				t.Fatalf("Open(%q) = %v", tt.url, err)
			}
			defer s.Close()
			if !tt.is(s) {
				t.Fatalf("Open(%q) = %T", tt.url, s)
			}
		})
	}
}

func TestOpen_BadURLsAreRefusedNamingTheBadPart(t *testing.T) {
	tests := []struct{ name, url, want string }{
		{"no scheme", "ssehub.db", "memory://, bolt://"},
		{"an unknown scheme", "postgres://x", `unknown scheme "postgres"`},
		{"a size that is not a number", "memory://?size=many", "size"},
		{"an age that is not a duration", "memory://?age=forever", "age"},
		{"an unknown parameter", "memory://?colour=blue", `"colour"`},
		{"bolt without a file", "bolt://", "no file"},
		{"nats with a stream name holding a dot", "nats://127.0.0.1:4222?stream=a.b", "stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tt.url, store.Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tt.url)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open(%q) = %v, want it to mention %s", tt.url, err, tt.want)
			}
		})
	}
}

func TestOpenStreams_EachSchemeOpensItsStreamsAlsoBesideAHubURL(t *testing.T) {
	redisAddr, natsAddr := servertest.SharedRedis(t), servertest.SharedNATS(t)
	dir := t.TempDir()
	natsStream := servertest.Unique("OPENDS")
	tests := []struct {
		name, url string
		is        func(any) bool
	}{
		{"memory", "memory://?sweep=1s", func(s any) bool { _, ok := s.(*memory.Streams); return ok }},
		{"bolt", "bolt://" + dir + "/d.db?timeout=1s", func(s any) bool { _, ok := s.(*boltstore.Streams); return ok }},
		{"redis", "redis://" + redisAddr + "/0?key=" + servertest.Unique("opends") + "&dial_timeout=1s", func(s any) bool { _, ok := s.(*redisstore.Streams); return ok }},
		{"nats beside a hub URL with hub-only parameters", sibling(t, "nats://"+natsAddr+"?stream="+natsStream+"&hub=h1&size=5&bytes=1MiB&age=1h"),
			func(s any) bool { _, ok := s.(*natsstore.Streams); return ok }},
	}
	t.Cleanup(func() {
		nc, err := nats.Connect("nats://" + natsAddr)
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := jetstream.New(nc); err == nil {
			_ = js.DeleteStream(context.Background(), natsStream+"_DURABLE")
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.OpenStreams(context.Background(), tt.url)
			if err != nil {
				t.Fatalf("OpenStreams(%q) = %v", tt.url, err)
			}
			defer s.Close()
			if !tt.is(s) {
				t.Fatalf("OpenStreams(%q) = %T", tt.url, s)
			}
		})
	}
}

func sibling(t *testing.T, hubURL string) string {
	t.Helper()
	u, err := store.Sibling(hubURL, "durable")
	if err != nil {
		t.Fatal(err)
	}
	return u
}
