package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/durable/durabletest"
)

func TestStreams(t *testing.T) {
	durabletest.TestStore(t, func(t *testing.T) durable.Store {
		s, err := OpenStreams(filepath.Join(t.TempDir(), "streams.db"), StreamsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func BenchmarkStreams(b *testing.B) {
	durabletest.BenchmarkStore(b, func(b *testing.B) durable.Store {
		s, err := OpenStreams(filepath.Join(b.TempDir(), "streams.db"), StreamsOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
}

func TestStreams_TheStreamLimitCountsStreamsAcrossDeletesAndReopening(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "streams.db")
	s, err := OpenStreams(path, StreamsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	create := func(s *Streams, name string) error {
		_, err := s.Create(ctx, name, durable.CreateRequest{StreamConfig: durable.StreamConfig{ContentType: "text/plain"}, MaxStreams: 2})
		return err
	}
	for _, name := range []string{"a", "b"} {
		if err := create(s, name); err != nil {
			t.Fatalf("create %s under the limit: %v", name, err)
		}
	}
	if err := create(s, "c"); !errors.Is(err, durable.ErrTooMany) {
		t.Fatalf("a third stream over a limit of 2: %v, want ErrTooMany", err)
	}
	if err := create(s, "a"); err != nil {
		t.Fatalf("an idempotent re-create at the limit: %v, want success", err)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := create(s, "c"); err != nil {
		t.Fatalf("a create after a delete made room: %v", err)
	}
	s.Close()
	if s, err = OpenStreams(path, StreamsOptions{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := create(s, "d"); !errors.Is(err, durable.ErrTooMany) {
		t.Fatalf("after reopening, a third stream: %v, want ErrTooMany (the count is kept in the file)", err)
	}
}
