package sse

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

var benchEvent = Event{
	ID:   "urn:uuid:9b2c6a3e-5f0e-4d7a-9a51-1c0f6e8b2d44",
	Type: "message",
	Data: `{"id":"9b2c6a3e","content":"故人西","timestamp":1737654000000}` + strings.Repeat("x", 130),
}

func BenchmarkEvent_AppendTo(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 512)
	for b.Loop() {
		var err error
		if buf, err = benchEvent.AppendTo(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkEvent_AppendToMultiline(b *testing.B) {
	ev := Event{ID: "42", Data: strings.Repeat("a line of text\n", 20)}
	b.ReportAllocs()
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf, _ = ev.AppendTo(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkParser(b *testing.B) {
	lf, _ := benchEvent.AppendTo(nil)
	for _, ending := range []struct{ name, eol string }{{"LF", "\n"}, {"CRLF", "\r\n"}, {"CR", "\r"}} {
		b.Run(ending.name, func(b *testing.B) {
			wire := bytes.ReplaceAll(lf, []byte("\n"), []byte(ending.eol))
			stream := bytes.Repeat(wire, 1000)
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			r := bytes.NewReader(stream)
			for b.Loop() {
				r.Reset(stream)
				p := NewParser(r)
				n := 0
				for {
					_, err := p.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != 1000 {
					b.Fatalf("parsed %d events", n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
		})
	}
}
