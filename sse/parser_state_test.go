package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParser_LimitErrorIsSticky(t *testing.T) {
	tests := []struct {
		name  string
		input string
		setup func(*Parser)
		want  error
	}{
		{
			name:  "event too large",
			input: "data: " + strings.Repeat("x", 20) + "\n\ndata: after\n\n",
			setup: func(p *Parser) { p.MaxEventBytes = 10 },
			want:  ErrEventTooLarge,
		},
		{
			name:  "terminated line too long",
			input: "data: " + strings.Repeat("x", 20) + "\n\ndata: after\n\n",
			setup: func(p *Parser) { p.MaxLineBytes = 10 },
			want:  ErrLineTooLong,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParser(strings.NewReader(tt.input))
			tt.setup(p)
			_, err1 := p.Next()
			if !errors.Is(err1, tt.want) {
				t.Fatalf("first Next: err = %v, want %v", err1, tt.want)
			}
			ev, err2 := p.Next()
			if err2 != err1 {
				t.Fatalf("second Next = %+v, %v; want the same error %v again", ev, err2, err1)
			}
		})
	}
}

func TestParser_LastEventIDIgnoresIDOfCutOffEvent(t *testing.T) {
	tests := []struct {
		input string
		want  string
	}{
		{"id: 1\ndata: a\n\nid: 2\ndata: partial", "1"},
		{"id: 1\ndata: a\n\nid: 2\n", "1"},
		{"id: 1\ndata: a\n\nid: 3\n\n", "3"}, // a blank line commits the id even without data
		{"id: 1\ndata: a\n\nid\n\n", ""},     // an empty id resets it
	}
	for _, tt := range tests {
		p := NewParser(strings.NewReader(tt.input))
		if _, err := collect(p); err != nil {
			t.Fatalf("%q: %v", tt.input, err)
		}
		if got := p.LastEventID(); got != tt.want {
			t.Errorf("%q: LastEventID() = %q, want %q", tt.input, got, tt.want)
		}
	}
}

func TestParser_SetLastEventIDResumesAStream(t *testing.T) {
	p := NewParser(strings.NewReader("data: a\n\nid: 9\ndata: b\n\n"))
	p.SetLastEventID("7")
	if got := p.LastEventID(); got != "7" {
		t.Fatalf("LastEventID() = %q before reading, want %q", got, "7")
	}
	var ids []string
	for ev, err := range p.All() {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	if strings.Join(ids, ",") != "7,9" || p.LastEventID() != "9" {
		t.Fatalf("event ids %q, LastEventID %q; want [7 9], 9", ids, p.LastEventID())
	}
}

func TestIndexLineEnd_MatchesByteScan(t *testing.T) {
	naive := func(b []byte) int {
		for i, c := range b {
			if c == '\n' || c == '\r' {
				return i
			}
		}
		return -1
	}
	at := func(n, i int, c byte) []byte {
		b := bytes.Repeat([]byte{'x'}, n)
		if i >= 0 {
			b[i] = c
		}
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"none", at(3000, -1, 0)},
		{"LF first byte", at(10, 0, '\n')},
		{"CR last byte", at(10, 9, '\r')},
		{"CR at the end of the first window", at(3000, lineScanWindow-1, '\r')},
		{"LF at the start of the second window", at(3000, lineScanWindow, '\n')},
		{"CR in the third window", at(3000, 2*lineScanWindow+7, '\r')},
		{"CR before LF", []byte("ab\rc\nd")},
		{"LF before CR", []byte("ab\nc\rd")},
		{"CRLF", []byte("abc\r\n")},
		{"CR in the first window, LF in the second", append(at(lineScanWindow+5, 1000, '\r'), '\n')},
		{"LF in the first window, CR in the second", append(at(lineScanWindow+5, 1000, '\n'), '\r')},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		b := make([]byte, rng.IntN(4*lineScanWindow))
		for j := range b {
			b[j] = "ab\r\n"[min(rng.IntN(400), 3)]
		}
		tests = append(tests, struct {
			name string
			b    []byte
		}{fmt.Sprintf("random %d", i), b})
	}
	for _, tt := range tests {
		if got, want := indexLineEnd(tt.b), naive(tt.b); got != want {
			t.Errorf("%s: indexLineEnd = %d, want %d", tt.name, got, want)
		}
	}
}

// sizeRecorder serves data in reads of at most chunk bytes and records the
// largest read asked of it.
type sizeRecorder struct {
	data    []byte
	chunk   int
	largest int
}

func (r *sizeRecorder) Read(p []byte) (int, error) {
	r.largest = max(r.largest, len(p))
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestParser_ReadBufferGrowsOnlyWhileReadsFillIt(t *testing.T) {
	stream := bytes.Repeat([]byte("id: 1\ndata: "+strings.Repeat("x", 200)+"\n\n"), 2000)
	tests := []struct {
		name        string
		chunk       int // the most one read returns
		readBuffer  int
		wantLargest int
	}{
		{"a backlog grows reads to the default", len(stream), 0, DefaultReadBufferBytes},
		{"a backlog grows reads to the configured size", len(stream), 16 << 10, 16 << 10},
		{"a size below the initial buffer means the initial buffer", len(stream), 100, initialBufferBytes},
		{"a trickle keeps the initial buffer", 300, 0, initialBufferBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &sizeRecorder{data: stream, chunk: tt.chunk}
			p := NewParser(r)
			p.ReadBufferBytes = tt.readBuffer
			n := 0
			for _, err := range p.All() {
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != 2000 {
				t.Fatalf("parsed %d events, want 2000", n)
			}
			if r.largest != tt.wantLargest {
				t.Errorf("largest read asked for %d bytes, want %d", r.largest, tt.wantLargest)
			}
		})
	}
}
