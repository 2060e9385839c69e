package sse

import (
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// parseWithComments parses r with OnComment set and returns what it saw,
// in order: "comment:<text>" for each comment, "event:<type>:<data>" for
// each event.
func parseWithComments(r io.Reader) ([]string, error) {
	var log []string
	p := NewParser(r)
	p.OnComment = func(c string) { log = append(log, "comment:"+c) }
	for ev, err := range p.All() {
		if err != nil {
			return log, err
		}
		log = append(log, "event:"+ev.Type+":"+ev.Data)
	}
	return log, nil
}

func TestParser_CommentsReachOnCommentInOrder(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"a comment line reaches OnComment without its colon and one space", ": hello\n", []string{"comment:hello"}},
		{"a comment without a space keeps all of its text", ":hello\n", []string{"comment:hello"}},
		{"only one leading space is removed", ":  two\n", []string{"comment: two"}},
		{"an empty comment is reported", ":\n", []string{"comment:"}},
		{"a comment at the very start of a stream after a BOM is reported", "\xEF\xBB\xBF: first\ndata: a\n\n", []string{"comment:first", "event:message:a"}},
		{"comments between the fields of one event are reported before the event", "event: x\n: one\ndata: a\n: two\ndata: b\n\n", []string{"comment:one", "comment:two", "event:x:a\nb"}},
		{"comments do not dispatch or end an event", ": a\n: b\n\n", []string{"comment:a", "comment:b"}},
		{"a comment may contain colons", ": a: b\n", []string{"comment:a: b"}},
		{"comments end with CR, LF or CRLF", ": cr\r: lf\n: crlf\r\ndata: x\r\n\r\n", []string{"comment:cr", "comment:lf", "comment:crlf", "event:message:x"}},
		{"invalid UTF-8 in a comment becomes U+FFFD", ": a\xFFb\n", []string{"comment:a\uFFFDb"}},
		{"a heartbeat between events is reported between them", "data: 1\n\n: ping\n\ndata: 2\n\n", []string{"event:message:1", "comment:ping", "event:message:2"}},
		{"a comment cut off by the end of the stream is not reported", "data: 1\n\n: cut", []string{"event:message:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			readers := map[string]io.Reader{
				"whole": strings.NewReader(tt.input),
				"bytes": iotest.OneByteReader(strings.NewReader(tt.input)),
			}
			for rname, r := range readers {
				got, err := parseWithComments(r)
				if err != nil {
					t.Fatalf("%s: %v", rname, err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("%s: got %q, want %q", rname, got, tt.want)
				}
			}
		})
	}
}

func TestParser_CommentsAreSkippedByDefault(t *testing.T) {
	// Without OnComment the events are the same as with it.
	input := ": a\ndata: x\n: b\n\n"
	got, err := parseAll(t, strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Event{msg("", "x")}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
