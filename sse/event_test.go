package sse

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEvent_AppendTo(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"DataOnly", Event{Data: "hello"}, "data: hello\n\n"},
		{"AllFields", Event{ID: "1", Type: "ping", Data: "ping", Retry: 3 * time.Second, Comment: "c"},
			": c\nid: 1\nevent: ping\nretry: 3000\ndata: ping\n\n"},
		{"LFSplitsData", Event{Data: "a\nb"}, "data: a\ndata: b\n\n"},
		{"CRSplitsData", Event{Data: "a\rb"}, "data: a\ndata: b\n\n"},
		{"CRLFSplitsData", Event{Data: "a\r\nb"}, "data: a\ndata: b\n\n"},
		{"EmptyLinesKept", Event{Data: "a\n\nb"}, "data: a\ndata:\ndata: b\n\n"},
		{"TrailingNewlineKept", Event{Data: "a\n"}, "data: a\ndata:\n\n"},
		{"LeadingSpaceProtected", Event{Data: " a"}, "data:  a\n\n"},
		{"EmptyDataWithIDDispatches", Event{ID: "x"}, "id: x\ndata:\n\n"},
		{"MultiLineComment", Event{Comment: "a\nb\r\nc"}, ": a\n: b\n: c\n\n"},
		{"CommentOnlyIsNotDispatched", Event{Comment: "heartbeat"}, ": heartbeat\n\n"},
		{"RetryOnlyIsNotDispatched", Event{Retry: 1500 * time.Millisecond}, "retry: 1500\n\n"},
		{"RetryRoundsDownToMilliseconds", Event{Retry: 1500*time.Millisecond + 999*time.Microsecond}, "retry: 1500\n\n"},
		{"EmptyEventWritesNothing", Event{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ev.AppendTo([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+tt.want {
				t.Fatalf("got %q, want %q", got, "prefix"+tt.want)
			}
		})
	}
}

func TestEvent_InjectionIsRefusedAndNothingIsWritten(t *testing.T) {
	tests := []struct {
		name  string
		ev    Event
		field string
	}{
		{"LFInID", Event{ID: "1\ndata: evil", Data: "x"}, "id"},
		{"CRInID", Event{ID: "1\rdata: evil", Data: "x"}, "id"},
		{"NULInID", Event{ID: "1\x00", Data: "x"}, "id"},
		{"LFInType", Event{Type: "a\nid: 666", Data: "x"}, "event"},
		{"CRInType", Event{Type: "a\r", Data: "x"}, "event"},
		{"NegativeRetry", Event{Retry: -time.Second}, "retry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := tt.ev.AppendTo(dst)
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("err = %v, want ErrInvalidEvent", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("err = %#v, want a FieldError for %q", err, tt.field)
			}
			if string(got) != "keep" {
				t.Fatalf("dst changed to %q", got)
			}
			var buf bytes.Buffer
			if n, err := tt.ev.WriteTo(&buf); err == nil || n != 0 || buf.Len() != 0 {
				t.Fatalf("WriteTo wrote %d bytes (%q), err %v", n, buf.String(), err)
			}
		})
	}
}

func TestEvent_WriteToIsOneWrite(t *testing.T) {
	w := &countingWriter{}
	ev := Event{ID: "1", Type: "t", Data: "a\nb\nc"}
	if _, err := ev.WriteTo(w); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 {
		t.Fatalf("WriteTo made %d writes, want 1", w.writes)
	}
}

type countingWriter struct{ writes int }

func (c *countingWriter) Write(p []byte) (int, error) { c.writes++; return len(p), nil }

func TestEvent_RoundTrip(t *testing.T) {
	events := []Event{
		{Type: "ping", Data: "ping"},
		{ID: "a", Data: "line1\r\nline2\rline3\n"},
		{Data: ""},
		{ID: "b", Type: "message", Data: "\n\n"},
		{Comment: "just a comment"},
		{Data: " leading and trailing space "},
		{Data: "故人西辞黄鹤楼，烟花三月下扬州。\n孤帆远影碧空尽，唯见长江天际流。"},
	}
	var wire []byte
	for i := range events {
		var err error
		if wire, err = events[i].AppendTo(wire); err != nil {
			t.Fatal(err)
		}
	}
	got, err := parseAll(t, bytes.NewReader(wire))
	if err != nil {
		t.Fatal(err)
	}
	want := expectedAfterRoundTrip(events)
	if !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// expectedAfterRoundTrip returns what a parser must dispatch for the encoded
// events: only dispatching events, line endings normalised to LF, the last
// event ID carried over, the default type filled in and comments dropped.
func expectedAfterRoundTrip(events []Event) []Event {
	var want []Event
	lastID := ""
	for _, ev := range events {
		if ev.ID != "" {
			lastID = ev.ID
		}
		if !ev.dispatches() {
			continue
		}
		w := Event{ID: lastID, Type: ev.Type, Data: normaliseNewlines(ev.Data), Retry: ev.Retry.Truncate(time.Millisecond)}
		if w.Type == "" {
			w.Type = "message"
		}
		want = append(want, w)
	}
	return want
}

func normaliseNewlines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}
