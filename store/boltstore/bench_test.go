package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/ssehub/ssehub/hub/hubtest"
	"github.com/ssehub/ssehub/store/boltstore"
)

func BenchmarkPublishToDelivery(b *testing.B) {
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "bench.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	hubtest.BenchmarkPublishToDelivery(b, s)
}
