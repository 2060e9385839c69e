package sse

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// parseAll parses s and returns every dispatched event and the final error
// (nil when the stream simply ended).
func parseAll(t *testing.T, r io.Reader) ([]Event, error) {
	t.Helper()
	var evs []Event
	for ev, err := range Read(r) {
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func msg(id, data string) Event { return Event{ID: id, Type: "message", Data: data} }

func TestParser_Rules(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []Event
	}{
		{"LFLineEndings", "data: a\n\n", []Event{msg("", "a")}},
		{"CRLineEndings", "data: a\r\r", []Event{msg("", "a")}},
		{"CRLFLineEndings", "data: a\r\n\r\n", []Event{msg("", "a")}},
		{"MixedLineEndings", "data: a\rdata: b\r\ndata: c\n\r\n", []Event{msg("", "a\nb\nc")}},
		{"LeadingBOMIsStripped", "\xEF\xBB\xBFdata: a\n\n", []Event{msg("", "a")}},
		{"OnlyOneBOMIsStripped", "\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n", []Event{msg("", "b")}},
		{"BOMAfterStartIsNotStripped", "data: a\n\n\xEF\xBB\xBFdata: b\n\n", []Event{msg("", "a")}},
		{"FieldWithoutColonHasEmptyValue", "data\n\n", []Event{msg("", "")}},
		{"FieldWithoutColonAppendsEmptyLine", "data: a\ndata\ndata: b\n\n", []Event{msg("", "a\n\nb")}},
		{"OneLeadingSpaceIsRemoved", "data:  a\n\n", []Event{msg("", " a")}},
		{"NoSpaceAfterColon", "data:a\n\n", []Event{msg("", "a")}},
		{"ValueMayContainColons", "data: a: b:c\n\n", []Event{msg("", "a: b:c")}},
		{"UnknownFieldsAreIgnored", "foo: bar\ndata: a\nDATA: b\n\n", []Event{msg("", "a")}},
		{"CommentsAreIgnored", ": hello\ndata: a\n:\n\n", []Event{msg("", "a")}},
		{"DataLinesJoinedWithLF", "data: a\ndata: b\n\n", []Event{msg("", "a\nb")}},
		{"TrailingEmptyDataLineKeepsNewline", "data: a\ndata:\n\n", []Event{msg("", "a\n")}},
		{"EmptyDataLineDispatchesEmptyString", "data:\n\n", []Event{msg("", "")}},
		{"EventWithoutDataIsNotDispatched", "event: x\nid: 1\n\ndata: a\n\n", []Event{{ID: "1", Type: "message", Data: "a"}}},
		{"BlankLinesAloneDispatchNothing", "\n\n\n", nil},
		{"UnterminatedEventIsDiscarded", "data: a\n\ndata: b\n", []Event{msg("", "a")}},
		{"UnterminatedLineIsDiscarded", "data: a\n\ndata: b", []Event{msg("", "a")}},
		{"DefaultTypeIsMessage", "data: a\n\n", []Event{{Type: "message", Data: "a"}}},
		{"EventFieldSetsType", "event: ping\ndata: ping\n\n", []Event{{Type: "ping", Data: "ping"}}},
		{"EmptyEventFieldMeansMessage", "event:\ndata: a\n\n", []Event{msg("", "a")}},
		{"TypeDoesNotCarryOver", "event: x\ndata: a\n\ndata: b\n\n", []Event{{Type: "x", Data: "a"}, msg("", "b")}},
		{"LastEventIDCarriesOver", "id: 1\ndata: a\n\ndata: b\n\n", []Event{msg("1", "a"), msg("1", "b")}},
		{"EmptyIDResetsLastEventID", "id: 1\ndata: a\n\nid\ndata: b\n\n", []Event{msg("1", "a"), msg("", "b")}},
		{"EmptyIDWithColonResets", "id: 1\ndata: a\n\nid:\ndata: b\n\n", []Event{msg("1", "a"), msg("", "b")}},
		{"IDWithNULIsIgnored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", []Event{msg("1", "a"), msg("1", "b")}},
		{"IDInUndispatchedEventStillSet", "id: 7\n\ndata: a\n\n", []Event{msg("7", "a")}},
		{"IDKeepsInnerSpaces", "id:  a b \ndata: x\n\n", []Event{msg(" a b ", "x")}},
		{"RetryDigitsAccepted", "retry: 1500\ndata: a\n\n", []Event{{Type: "message", Data: "a", Retry: 1500 * time.Millisecond}}},
		{"RetryWithNonDigitIgnored", "retry: 15a\ndata: a\n\n", []Event{msg("", "a")}},
		{"RetryNegativeIgnored", "retry: -1\ndata: a\n\n", []Event{msg("", "a")}},
		{"RetryEmptyIgnored", "retry:\ndata: a\n\n", []Event{msg("", "a")}},
		{"RetryWithSpaceInsideIgnored", "retry: 1 0\ndata: a\n\n", []Event{msg("", "a")}},
		{"InvalidUTF8BecomesReplacement", "data: a\xFFb\n\n", []Event{msg("", "a\uFFFDb")}},
		{"TruncatedSequenceIsOneReplacement", "data: \xE2\x82A\n\n", []Event{msg("", "\uFFFDA")}},
		{"SurrogateEncodingIsReplaced", "data: \xED\xA0\x80\n\n", []Event{msg("", "\uFFFD\uFFFD\uFFFD")}},
		{"OverlongEncodingIsReplaced", "data: \xC0\xAF\n\n", []Event{msg("", "\uFFFD\uFFFD")}},
		{"InvalidUTF8InTypeAndID", "id: \xFF\nevent: \xFE\ndata: a\n\n", []Event{{ID: "\uFFFD", Type: "\uFFFD", Data: "a"}}},
		{"ValidMultibyteKept", "data: 故人西辞黄鹤楼\n\n", []Event{msg("", "故人西辞黄鹤楼")}},
		{"FieldNamesAreCaseSensitive", "Data: a\nEvent: x\n\n", nil},
		{"SpaceBeforeColonIsPartOfName", "data : a\n\n", nil},
		{"CRThenLFIsOneLineEnd", "data: a\r\ndata: b\r\n\r\n", []Event{msg("", "a\nb")}},
		{"LFThenCRIsTwoLineEnds", "data: a\n\rdata: b\n\n", []Event{msg("", "a"), msg("", "b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every rule must hold however the stream is cut into reads.
			readers := map[string]io.Reader{
				"whole":   strings.NewReader(tt.input),
				"bytes":   iotest.OneByteReader(strings.NewReader(tt.input)),
				"halves":  iotest.HalfReader(strings.NewReader(tt.input)),
				"dataerr": iotest.DataErrReader(strings.NewReader(tt.input)),
			}
			for rname, r := range readers {
				got, err := parseAll(t, r)
				if err != nil {
					t.Fatalf("%s: unexpected error %v", rname, err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("%s: got %q, want %q", rname, got, tt.want)
				}
			}
		})
	}
}

// chunkReader returns the chunks one per Read, so a test controls exactly
// where reads split the stream.
type chunkReader struct{ chunks []string }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func TestParser_CRAndLFInDifferentReadsAreOneLineEnd(t *testing.T) {
	r := &chunkReader{chunks: []string{"data: a\r", "\ndata: b\r", "\n\r", "\n"}}
	got, err := parseAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Event{msg("", "a\nb")}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParser_BOMSplitAcrossReadsIsStripped(t *testing.T) {
	r := &chunkReader{chunks: []string{"\xEF", "\xBB", "\xBFdata: a\n\n"}}
	got, err := parseAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Event{msg("", "a")}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// blockingReader returns its data and then blocks until closed, like a live
// connection that has sent an event and is waiting for the next.
type blockingReader struct {
	data    string
	release chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if b.data != "" {
		n := copy(p, b.data)
		b.data = b.data[n:]
		return n, nil
	}
	<-b.release
	return 0, io.EOF
}

func TestParser_CRDispatchesWithoutWaitingForNextByte(t *testing.T) {
	r := &blockingReader{data: "data: a\r\r", release: make(chan struct{})}
	defer close(r.release)
	got := make(chan Event, 1)
	go func() {
		ev, err := NewParser(r).Next()
		if err == nil {
			got <- ev
		}
	}()
	select {
	case ev := <-got:
		if ev.Data != "a" {
			t.Fatalf("data = %q, want %q", ev.Data, "a")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the event ended by CR CR was not dispatched while the stream stayed open")
	}
}

func TestParser_RetryTakesEffectWithoutDispatch(t *testing.T) {
	p := NewParser(strings.NewReader("retry: 250\n\nretry: x\n\n"))
	if _, err := p.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: got %v, want io.EOF", err)
	}
	d, ok := p.Retry()
	if !ok || d != 250*time.Millisecond {
		t.Fatalf("Retry() = %v, %v; want 250ms, true", d, ok)
	}
}

func TestParser_HugeRetrySaturates(t *testing.T) {
	p := NewParser(strings.NewReader("retry: 99999999999999999999999999\n\n"))
	_, _ = p.Next()
	d, ok := p.Retry()
	if !ok || d <= 0 {
		t.Fatalf("Retry() = %v, %v; want a large positive duration", d, ok)
	}
}

func TestParser_LineLongerThanLimitIsAnError(t *testing.T) {
	tests := []struct {
		name  string
		input io.Reader
	}{
		{"terminated", strings.NewReader("data: " + strings.Repeat("x", 200) + "\n\n")},
		{"endless", iotest.OneByteReader(&repeatReader{b: 'x'})},
		{"endlessFast", &repeatReader{b: 'x'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParser(tt.input)
			p.MaxLineBytes = 100
			_, err := p.Next()
			if !errors.Is(err, ErrLineTooLong) {
				t.Fatalf("got %v, want ErrLineTooLong", err)
			}
			if len(p.buf) > 4096 {
				t.Fatalf("buffer grew to %d bytes for a 100-byte limit", len(p.buf))
			}
			if _, err2 := p.Next(); !errors.Is(err2, ErrLineTooLong) {
				t.Fatalf("the error is not sticky: second Next returned %v", err2)
			}
		})
	}
}

func TestParser_LineAtLimitIsAccepted(t *testing.T) {
	line := "data: " + strings.Repeat("x", 94) // 100 bytes
	p := NewParser(strings.NewReader(line + "\n\n"))
	p.MaxLineBytes = 100
	ev, err := p.Next()
	if err != nil || len(ev.Data) != 94 {
		t.Fatalf("got %d bytes, %v; want 94 bytes, nil", len(ev.Data), err)
	}
}

func TestParser_EventLargerThanLimitIsAnError(t *testing.T) {
	input := strings.Repeat("data: 0123456789\n", 20) + "\n"
	p := NewParser(strings.NewReader(input))
	p.MaxEventBytes = 100
	if _, err := p.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("got %v, want ErrEventTooLarge", err)
	}
}

func TestParser_ReaderErrorIsReturned(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom))
	got, err := parseAll(t, r)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if !slices.Equal(got, []Event{msg("", "a")}) {
		t.Fatalf("got %q before the error", got)
	}
}

func TestParser_ReaderThatNeverProgressesIsAnError(t *testing.T) {
	_, err := NewParser(zeroReader{}).Next()
	if !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("got %v, want io.ErrNoProgress", err)
	}
}

func TestParser_IteratorStopsWhenCallerBreaks(t *testing.T) {
	n := 0
	for range Read(strings.NewReader("data: a\n\ndata: b\n\ndata: c\n\n")) {
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Fatalf("iterated %d times", n)
	}
}

type repeatReader struct{ b byte }

func (r *repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b
	}
	return len(p), nil
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }
