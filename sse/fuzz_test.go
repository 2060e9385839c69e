package sse

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParser feeds arbitrary bytes to the parser in arbitrary read sizes: it
// must never panic, must respect its limits, and must produce the same events
// however the input is split.
func FuzzParser(f *testing.F) {
	for _, s := range []string{
		"data: a\n\n", "id: 1\r\nevent: x\r\ndata: b\r\n\r\n", "\xEF\xBB\xBFdata\r\r",
		"retry: 12\nid\x00\n:c\ndata:  x\n\n", "\xEF\xBB\xBF: c\rdata: a\n: d\n\n", "data: \xE2\x82\n\n", "data: a\rdata: b\n\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, input []byte, chunk uint8) {
		whole, errWhole := collect(NewParser(bytes.NewReader(input)))
		split, errSplit := collect(NewParser(&chunkReader{chunks: chunks(input, int(chunk)%7+1)}))
		if (errWhole == nil) != (errSplit == nil) || !slices.Equal(whole, split) {
			t.Fatalf("read size changed the result:\nwhole %q %v\nsplit %q %v", whole, errWhole, split, errSplit)
		}
		for _, ev := range whole {
			if !utf8.ValidString(ev.Data) || !utf8.ValidString(ev.ID) || !utf8.ValidString(ev.Type) {
				t.Fatalf("dispatched invalid UTF-8: %q", ev)
			}
			if strings.IndexByte(ev.ID, 0) >= 0 || strings.ContainsAny(ev.ID, "\r\n") {
				t.Fatalf("dispatched an id with NUL or a line break: %q", ev.ID)
			}
		}
		// Reporting comments changes no event, and comments too are the
		// same however the input is split.
		wholeLog, errLog := parseWithComments(bytes.NewReader(input))
		splitLog, _ := parseWithComments(&chunkReader{chunks: chunks(input, int(chunk)%5+1)})
		if (errLog == nil) != (errWhole == nil) || !slices.Equal(wholeLog, splitLog) {
			t.Fatalf("read size changed the comments:\nwhole %q\nsplit %q", wholeLog, splitLog)
		}
		var logged []string
		for _, ev := range whole {
			logged = append(logged, "event:"+ev.Type+":"+ev.Data)
		}
		if events := slices.DeleteFunc(wholeLog, func(s string) bool { return strings.HasPrefix(s, "comment:") }); !slices.Equal(events, logged) {
			t.Fatalf("OnComment changed the events:\nwith %q\nwithout %q", events, logged)
		}
		p := NewParser(bytes.NewReader(input))
		p.MaxLineBytes, p.MaxEventBytes = 16, 32
		evs, err := collect(p)
		for _, ev := range evs {
			if len(ev.Data) > 32 {
				t.Fatalf("event of %d bytes passed a 32-byte limit", len(ev.Data))
			}
		}
		if err != nil && !errors.Is(err, ErrLineTooLong) && !errors.Is(err, ErrEventTooLarge) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzRoundTrip proves that for any event the encoder accepts, the parser
// returns the same event (line endings normalised, as the format demands),
// and that the encoder refuses every event that could inject a field.
func FuzzRoundTrip(f *testing.F) {
	f.Add("1", "ping", "a\nb", "c", uint16(0), "", "", "x\r\n")
	f.Add("", "", "", "only comment", uint16(10), "2", "t", "")
	f.Fuzz(func(t *testing.T, id1, typ1, data1, comment1 string, retryMS uint16, id2, typ2, data2 string) {
		events := []Event{
			{ID: id1, Type: typ1, Data: data1, Comment: comment1, Retry: time.Duration(retryMS) * time.Millisecond},
			{ID: id2, Type: typ2, Data: data2},
		}
		var wire []byte
		for i := range events {
			ev := &events[i]
			// The wire is UTF-8: only valid text can come back unchanged.
			if !utf8.ValidString(ev.ID) || !utf8.ValidString(ev.Type) || !utf8.ValidString(ev.Data) || !utf8.ValidString(ev.Comment) {
				return
			}
			out, err := ev.AppendTo(wire)
			injects := strings.ContainsAny(ev.ID+ev.Type, "\r\n") || strings.IndexByte(ev.ID, 0) >= 0
			if injects != (err != nil) {
				t.Fatalf("AppendTo(%q) error = %v, want an error: %v", ev, err, injects)
			}
			if err != nil {
				return
			}
			wire = out
		}
		got, err := collect(NewParser(bytes.NewReader(wire)))
		if err != nil {
			t.Fatal(err)
		}
		if want := expectedAfterRoundTrip(events); !slices.Equal(got, want) {
			t.Fatalf("round trip changed the events:\nwire %q\ngot  %q\nwant %q", wire, got, want)
		}
	})
}

func collect(p *Parser) ([]Event, error) {
	var evs []Event
	for {
		ev, err := p.Next()
		if errors.Is(err, io.EOF) {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func chunks(b []byte, size int) []string {
	var out []string
	for len(b) > size {
		out = append(out, string(b[:size]))
		b = b[size:]
	}
	if len(b) > 0 {
		out = append(out, string(b))
	}
	return out
}
