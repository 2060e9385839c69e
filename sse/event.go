package sse

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Event is one event of an event stream.
//
// When encoding, every field is optional. The encoder writes an id line when
// ID is non-empty, an event line when Type is non-empty, a retry line when
// Retry is positive, one comment line per line of Comment, and one data line
// per line of Data. An event that has an ID, a Type or Data is dispatched by
// the receiver (with an empty data string if Data is empty); an event that has
// only a Comment and/or a Retry is not, which makes it the right shape for
// heartbeats and reconnection hints.
//
// When parsing, ID holds the stream's last event ID at the moment of dispatch
// (it carries over from earlier events, as EventSource.lastEventId does), Type
// is "message" unless the event named another, Retry is the reconnection time
// set inside this event's block (zero if none) and Comment is always empty.
type Event struct {
	ID      string
	Type    string
	Data    string
	Retry   time.Duration
	Comment string
}

// ErrInvalidEvent is wrapped by every error the encoder returns for an event
// that cannot be written without corrupting the stream.
var ErrInvalidEvent = errors.New("sse: invalid event")

// FieldError describes an event field whose value cannot be encoded.
type FieldError struct {
	Field  string // "id", "event" or "retry"
	Value  string // the offending value, as given
	Reason string // what is wrong with it
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("sse: %s field %s: %q", e.Field, e.Reason, e.Value)
}

// Unwrap makes errors.Is(err, ErrInvalidEvent) true for every FieldError.
func (e *FieldError) Unwrap() error { return ErrInvalidEvent }

// Validate reports whether e can be encoded. It returns a *FieldError when
// the id or type contains CR or LF (which would inject a field), when the id
// contains U+0000 (which every receiver ignores), or when Retry is negative.
func (e *Event) Validate() error {
	if strings.ContainsAny(e.ID, "\r\n") {
		return &FieldError{Field: "id", Value: e.ID, Reason: "contains a line break"}
	}
	if strings.IndexByte(e.ID, 0) >= 0 {
		return &FieldError{Field: "id", Value: e.ID, Reason: "contains U+0000"}
	}
	if strings.ContainsAny(e.Type, "\r\n") {
		return &FieldError{Field: "event", Value: e.Type, Reason: "contains a line break"}
	}
	if e.Retry < 0 {
		return &FieldError{Field: "retry", Value: e.Retry.String(), Reason: "is negative"}
	}
	return nil
}

// dispatches reports whether a receiver will dispatch the encoded event.
func (e *Event) dispatches() bool {
	return e.ID != "" || e.Type != "" || e.Data != ""
}

// AppendTo appends the wire form of e, terminated by a blank line, to dst and
// returns the extended slice. If e is invalid it returns dst unchanged and an
// error wrapping ErrInvalidEvent. An event with no field set appends nothing.
//
// The result can be written to any number of connections, which is how one
// update is encoded once and fanned out.
func (e *Event) AppendTo(dst []byte) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return dst, err
	}
	start := len(dst)
	if e.Comment != "" {
		dst = appendLines(dst, ":", e.Comment)
	}
	if e.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, e.ID...)
		dst = append(dst, '\n')
	}
	if e.Type != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, e.Type...)
		dst = append(dst, '\n')
	}
	if e.Retry > 0 {
		dst = append(dst, "retry: "...)
		dst = strconv.AppendInt(dst, e.Retry.Milliseconds(), 10)
		dst = append(dst, '\n')
	}
	if e.dispatches() {
		dst = appendLines(dst, "data:", e.Data)
	}
	if len(dst) > start {
		dst = append(dst, '\n')
	}
	return dst, nil
}

// MarshalText returns the wire form of e; see AppendTo.
func (e Event) MarshalText() ([]byte, error) {
	return e.AppendTo(nil)
}

// WriteTo writes the wire form of e to w in a single Write call. Nothing is
// written when e is invalid.
func (e *Event) WriteTo(w io.Writer) (int64, error) {
	b, err := e.AppendTo(nil)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

// appendLines writes one "prefix value" line for every line of s, splitting
// on CRLF, CR and LF alike, so that a parser joining the lines with LF gets
// back s with its line endings normalised to LF.
func appendLines(dst []byte, prefix, s string) []byte {
	for {
		i := strings.IndexAny(s, "\r\n")
		line := s
		if i >= 0 {
			line = s[:i]
		}
		dst = append(dst, prefix...)
		// A value that starts with a space would lose that space to the
		// parser's single-space rule; the separating space protects it.
		if line != "" {
			dst = append(dst, ' ')
			dst = append(dst, line...)
		}
		dst = append(dst, '\n')
		if i < 0 {
			return dst
		}
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
}
