package stream

import (
	"net/http/httptest"
	"testing"

	"github.com/ssehub/ssehub/sse"
)

// discardRecorder is a flushable ResponseWriter that keeps nothing, so the
// benchmark measures the stream and not a growing buffer.
type discardRecorder struct{ *httptest.ResponseRecorder }

func (d discardRecorder) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkStream_Send(b *testing.B) {
	w := discardRecorder{httptest.NewRecorder()}
	r := httptest.NewRequest("GET", "/", nil)
	s, err := New(w, r, &Options{Heartbeat: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Complete()
	ev := sse.Event{ID: "42", Data: `{"content":"故人西","timestamp":1737654000000}`}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Send(ev); err != nil {
			b.Fatal(err)
		}
	}
}
