package sse

import (
	"errors"
	"io"
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
		for {
			if _, err := p.Next(); err != nil {
				if err != io.EOF {
					t.Fatalf("%q: %v", tt.input, err)
				}
				break
			}
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
