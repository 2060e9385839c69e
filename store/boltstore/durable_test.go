package boltstore

import (
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
