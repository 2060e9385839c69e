package memory

import (
	"testing"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/durable/durabletest"
)

func TestStreams(t *testing.T) {
	durabletest.TestStore(t, func(t *testing.T) durable.Store { return NewStreams(StreamsOptions{}) })
}

func BenchmarkStreams(b *testing.B) {
	durabletest.BenchmarkStore(b, func(b *testing.B) durable.Store { return NewStreams(StreamsOptions{}) })
}
