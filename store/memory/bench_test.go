package memory_test

import (
	"testing"

	"github.com/ssehub/ssehub/hub/hubtest"
	"github.com/ssehub/ssehub/store/memory"
)

func BenchmarkPublishToDelivery(b *testing.B) {
	s := memory.New(memory.Options{})
	defer s.Close()
	hubtest.BenchmarkPublishToDelivery(b, s)
}
