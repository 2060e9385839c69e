package sse

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// netReader returns at most n bytes per Read, as a socket does.
type netReader struct {
	r io.Reader
	n int
}

func (r *netReader) Read(p []byte) (int, error) {
	return r.r.Read(p[:min(len(p), r.n)])
}

func TestParser_DefaultsDeliverEveryEventABrowserDelivers(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name string
		data string
		wire string
	}{
		{"a 5 MiB single-line data field is delivered", strings.Repeat("a", 5*mib), ""},
		{"a 10 MiB single-line data field is delivered", strings.Repeat("b", 10*mib), ""},
		{"a 1 MiB line plus its field name is delivered", strings.Repeat("c", mib), ""},
		{"a 1 MiB line ending in CR alone is delivered", strings.Repeat("d", mib), "data:" + strings.Repeat("d", mib) + "\r\r"},
		{"an event of many lines larger than 4 MiB is delivered", strings.Repeat(strings.Repeat("e", 1000)+"\n", 5000) + "end", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire := tt.wire
			if wire == "" {
				wire = "id: 1\n" + strings.ReplaceAll("data: "+tt.data, "\n", "\ndata: ") + "\n\n"
			}
			wire += "data: after\n\n"
			readers := map[string]io.Reader{
				"whole":  strings.NewReader(wire),
				"socket": &netReader{r: strings.NewReader(wire), n: 32 << 10},
				"halves": iotest.HalfReader(strings.NewReader(wire)),
			}
			for rname, r := range readers {
				p := NewParser(r)
				ev, err := p.Next()
				if err != nil {
					t.Fatalf("%s: %v", rname, err)
				}
				if ev.Data != tt.data {
					t.Fatalf("%s: got %d bytes of data, want %d", rname, len(ev.Data), len(tt.data))
				}
				ev, err = p.Next()
				if err != nil || ev.Data != "after" {
					t.Fatalf("%s: the next event is %q, %v; want \"after\"", rname, ev.Data, err)
				}
				// The huge line's memory is not kept for the rest of the stream.
				if len(p.buf) > retainBytes || cap(p.data) > retainBytes {
					t.Fatalf("%s: the parser keeps a %d-byte line buffer and a %d-byte data buffer after the huge event", rname, len(p.buf), cap(p.data))
				}
			}
		})
	}
}

func TestParser_LimitsAreOptions(t *testing.T) {
	line := "data: " + strings.Repeat("x", 1<<20) + "\n\n"
	p := NewParser(strings.NewReader(line))
	p.MaxLineBytes = 1 << 20
	if _, err := p.Next(); err == nil {
		t.Fatal("a 1 MiB line plus its field name passed a 1 MiB line limit")
	}
	p = NewParser(strings.NewReader(line))
	p.MaxEventBytes = 1 << 19
	if _, err := p.Next(); err == nil {
		t.Fatal("a 1 MiB event passed a 512 KiB event limit")
	}
}

// BenchmarkParser_LongLine guards the search of a long line across many
// reads: each read's bytes are searched once.
func BenchmarkParser_LongLine(b *testing.B) {
	wire := []byte("data: " + strings.Repeat("x", 512<<10) + "\n\n")
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		p := NewParser(&netReader{r: bytes.NewReader(wire), n: 16 << 10})
		if _, err := p.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
