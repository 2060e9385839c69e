package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"time"
	"unicode/utf8"
)

// DefaultReadBufferBytes is the most a Parser asks of its reader at once
// when Parser.ReadBufferBytes is zero.
const DefaultReadBufferBytes = 64 << 10

// NoLimit, the zero value of Parser.MaxLineBytes and Parser.MaxEventBytes,
// bounds neither lines nor events: a Parser then delivers every event a
// browser delivers, however large.
const NoLimit = 0

// retainBytes is the largest line buffer or data buffer a Parser keeps once
// the line or event that needed it is done: a stream that sent one huge
// event does not hold its memory for the rest of its life.
const retainBytes = 1 << 20

// initialBufferBytes is the size of a Parser's first read buffer.
const initialBufferBytes = 4096

// ErrLineTooLong is returned (wrapped) by Parser.Next when a line exceeds
// Parser.MaxLineBytes.
var ErrLineTooLong = errors.New("sse: line too long")

// ErrEventTooLarge is returned (wrapped) by Parser.Next when the data of one
// event exceeds Parser.MaxEventBytes.
var ErrEventTooLarge = errors.New("sse: event too large")

// Parser reads events from an event stream, following the WHATWG rules for
// parsing an event stream and dispatching events:
//
//   - one leading UTF-8 byte order mark is skipped; bytes that are not valid
//     UTF-8 decode to U+FFFD as the WHATWG UTF-8 decoder does;
//   - lines end with CRLF, LF or CR, even when CR and LF arrive in different
//     reads; a CR is acted on at once, without waiting for the next byte;
//   - a blank line dispatches the event; a line starting with ':' is a
//     comment; a line without ':' is a field with an empty value; one leading
//     space of a value is removed; unknown fields are ignored;
//   - data lines are joined with LF; an event with no data line is not
//     dispatched; an event cut off by the end of the stream is discarded;
//   - the last event ID persists across events, an empty id resets it, and an
//     id containing U+0000 is ignored;
//   - retry is accepted only when it is all ASCII digits.
//
// By default, as in browsers, neither lines nor events are limited in size
// and comments are skipped; set MaxLineBytes and MaxEventBytes to cap the
// memory a peer can make the Parser use, and OnComment to see comments.
//
// A Parser is not safe for concurrent use. Set the limits before the first
// call to Next.
type Parser struct {
	// MaxLineBytes, when positive, bounds the length of one line, in
	// bytes, field name included, line ending excluded. Zero (NoLimit)
	// means no limit.
	MaxLineBytes int
	// MaxEventBytes, when positive, bounds the size of one event's data, in
	// bytes. Zero (NoLimit) means no limit.
	MaxEventBytes int
	// ReadBufferBytes bounds how much a Parser asks of its reader at once.
	// The buffer starts at 4 KiB and doubles, up to this size, whenever a
	// read fills it: a stream that is behind is read in few large reads
	// (fewer system calls per event), a quiet one keeps a small buffer.
	// Lines longer than the buffer still grow it, up to MaxLineBytes. Zero
	// means DefaultReadBufferBytes.
	ReadBufferBytes int
	// OnComment, when not nil, is called with the text of every comment
	// line (a line starting with ':'), without the colon and one space
	// after it, decoded as UTF-8, at the moment Next reads it: in order with
	// the events, even between the fields of one event. It runs on the
	// goroutine that calls Next. Comments do not affect the events.
	OnComment func(comment string)

	r       io.Reader
	buf     []byte // unread bytes are buf[pos:end]
	pos     int
	end     int
	err     error // sticky read error
	failed  error // sticky limit error: no line is read after it
	filled  bool  // the last read filled the buffer: more was probably waiting
	scanned int   // buf[pos:pos+scanned] holds no line ending: a long line is searched once

	started  bool // the BOM check has been done
	skipLF   bool // the previous line ended with CR: a following LF is part of it
	line     int  // number of lines read, for error messages
	hasRetry bool
	retry    time.Duration

	lastID    string // the last event ID buffer
	lastIDStr string // the last event ID string: lastID as of the last blank line
	eventType string
	prevType  string // the last type seen, reused to save an allocation
	data      []byte
	evRetry   time.Duration
}

// NewParser returns a Parser reading from r.
func NewParser(r io.Reader) *Parser {
	return &Parser{r: r}
}

// Read returns an iterator over the events of r with the default limits. The
// iteration ends after the first error; a stream that simply ends yields no
// error.
//
//	for ev, err := range sse.Read(resp.Body) { ... }
func Read(r io.Reader) iter.Seq2[Event, error] {
	return NewParser(r).All()
}

// All returns an iterator over the remaining events. It stops after the
// first error other than io.EOF, which it yields; the end of the stream ends
// the iteration without an error.
func (p *Parser) All() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			ev, err := p.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// LastEventID returns the stream's last event ID string: the value a client
// sends as Last-Event-ID when it reconnects. It is the last event ID buffer as
// it stood at the last blank line, so an id field in an event that the end of
// the stream cut off does not count, while an id in a block without data
// (which is not dispatched) does.
func (p *Parser) LastEventID() string { return p.lastIDStr }

// SetLastEventID sets the last event ID buffer and string to id, as a client
// does when it resumes a stream on a new connection: events dispatched before
// the new stream sends an id field then carry id, and LastEventID returns id
// until the stream changes it. Call it before the first call to Next.
func (p *Parser) SetLastEventID(id string) {
	p.lastID = id
	p.lastIDStr = id
}

// Retry returns the reconnection time most recently set by the stream, and
// whether the stream set one at all. A retry field takes effect as soon as it
// is read, even in an event that is never dispatched.
func (p *Parser) Retry() (time.Duration, bool) { return p.retry, p.hasRetry }

// Next returns the next dispatched event. At the end of the stream it returns
// io.EOF, discarding an event that was not terminated by a blank line. Other
// errors are those of the underlying reader or a wrapped ErrLineTooLong or
// ErrEventTooLarge; after an error the Parser returns the same error again.
func (p *Parser) Next() (Event, error) {
	if p.failed != nil {
		return Event{}, p.failed
	}
	for {
		line, err := p.readLine()
		if err != nil {
			return Event{}, err
		}
		if ev, ok, err := p.processLine(line); err != nil || ok {
			return ev, err
		}
	}
}

// lineTooLong reports whether a line of n bytes exceeds MaxLineBytes.
func (p *Parser) lineTooLong(n int) bool {
	return p.MaxLineBytes > 0 && n > p.MaxLineBytes
}

func (p *Parser) readBuffer() int {
	if p.ReadBufferBytes > 0 {
		return max(p.ReadBufferBytes, initialBufferBytes)
	}
	return DefaultReadBufferBytes
}

// processLine applies one line to the parser state and reports whether it
// dispatched an event.
func (p *Parser) processLine(line []byte) (Event, bool, error) {
	if len(line) == 0 {
		ev, ok := p.dispatch()
		return ev, ok, nil
	}
	if line[0] == ':' {
		if p.OnComment != nil {
			text := line[1:]
			if len(text) > 0 && text[0] == ' ' {
				text = text[1:]
			}
			p.OnComment(decodeUTF8(text))
		}
		return Event{}, false, nil
	}
	var field, value []byte
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	} else {
		field = line
	}
	switch string(field) {
	case "event":
		p.eventType = reuse(p.prevType, value)
		p.prevType = p.eventType
	case "data":
		// The limit is checked after decoding: a replacement character
		// takes three bytes where the invalid byte took one.
		p.data = appendUTF8(p.data, value)
		if p.MaxEventBytes > 0 && len(p.data) > p.MaxEventBytes {
			p.failed = fmt.Errorf("%w: data exceeds %d bytes at line %d", ErrEventTooLarge, p.MaxEventBytes, p.line)
			return Event{}, false, p.failed
		}
		p.data = append(p.data, '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.lastID = reuse(p.lastID, value)
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			p.retry = ms
			p.hasRetry = true
			p.evRetry = ms
		}
	}
	return Event{}, false, nil
}

// dispatch implements "dispatch the event" and resets the per-event buffers.
func (p *Parser) dispatch() (Event, bool) {
	defer func() {
		p.data = p.data[:0]
		if cap(p.data) > retainBytes {
			p.data = nil
		}
		p.eventType = ""
		p.evRetry = 0
	}()
	p.lastIDStr = p.lastID
	// Every data line appends at least its LF: no data line, no event.
	if len(p.data) == 0 {
		return Event{}, false
	}
	ev := Event{
		ID:    p.lastID,
		Type:  p.eventType,
		Data:  string(p.data[:len(p.data)-1]),
		Retry: p.evRetry,
	}
	if ev.Type == "" {
		ev.Type = "message"
	}
	return ev, true
}

// readLine returns the next line without its line ending. The slice is valid
// until the next call.
func (p *Parser) readLine() ([]byte, error) {
	if len(p.buf) > retainBytes && p.end-p.pos <= p.readBuffer() {
		// The long line that grew the buffer has been used.
		nb := make([]byte, p.readBuffer())
		p.end = copy(nb, p.buf[p.pos:p.end])
		p.pos, p.buf = 0, nb
	}
	for {
		if !p.started {
			b := p.buf[p.pos:p.end]
			// Decide about the BOM only once enough bytes are in to tell.
			if len(b) >= 3 || p.err != nil || !isBOMPrefix(b) {
				p.started = true
				if isBOMPrefix(b) && len(b) >= 3 {
					p.pos += 3
				}
			}
		}
		if p.started {
			if p.skipLF && p.pos < p.end {
				if p.buf[p.pos] == '\n' {
					p.pos++
				}
				p.skipLF = false
			}
			rest := p.buf[p.pos:p.end]
			if i := indexLineEnd(rest[p.scanned:]); i >= 0 {
				i += p.scanned
				p.scanned = 0
				line := rest[:i]
				p.pos += i + 1
				p.skipLF = rest[i] == '\r'
				p.line++
				if p.lineTooLong(len(line)) {
					p.failed = fmt.Errorf("%w: line %d is %d bytes, the limit is %d", ErrLineTooLong, p.line, len(line), p.MaxLineBytes)
					return nil, p.failed
				}
				return line, nil
			}
			p.scanned = len(rest)
			if p.lineTooLong(len(rest)) {
				p.failed = fmt.Errorf("%w: line %d exceeds %d bytes", ErrLineTooLong, p.line+1, p.MaxLineBytes)
				return nil, p.failed
			}
		}
		if p.err != nil {
			return nil, p.err
		}
		p.fill()
	}
}

// fill reads more input, compacting or growing the buffer as needed.
func (p *Parser) fill() {
	if p.pos > 0 {
		n := copy(p.buf, p.buf[p.pos:p.end])
		p.end = n
		p.pos = 0
	}
	size := len(p.buf)
	switch {
	case size == 0:
		size = initialBufferBytes
	case p.end == size: // a line longer than the buffer
		size *= 2
		if limit := p.MaxLineBytes + 8; p.MaxLineBytes > 0 && size > limit && limit > len(p.buf) {
			size = limit
		}
	case p.filled && size < p.readBuffer():
		size = min(2*size, p.readBuffer())
	}
	if size != len(p.buf) {
		nb := make([]byte, size)
		copy(nb, p.buf[:p.end])
		p.buf = nb
	}
	// Retry a few empty reads before giving up, as bufio does, so that a
	// reader that returns 0, nil cannot spin the parser forever.
	for range 100 {
		n, err := p.r.Read(p.buf[p.end:])
		p.filled = n == len(p.buf)-p.end
		p.end += n
		if err != nil {
			p.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	p.err = io.ErrNoProgress
}

// isBOMPrefix reports whether b starts with the UTF-8 byte order mark, or is
// a proper prefix of it.
func isBOMPrefix(b []byte) bool {
	bom := [3]byte{0xEF, 0xBB, 0xBF}
	for i := 0; i < len(b) && i < 3; i++ {
		if b[i] != bom[i] {
			return false
		}
	}
	return true
}

// lineScanWindow is how far indexLineEnd looks for a LF before it looks for
// a CR in the same span: far enough that a typical line costs one pass of
// each vectorised search, near enough that a stream whose lines end in CR
// alone is not searched to the end of the buffer for every line.
const lineScanWindow = 1024

// indexLineEnd returns the index of the first CR or LF in b, or -1.
func indexLineEnd(b []byte) int {
	for off := 0; off < len(b); off += lineScanWindow {
		w := b[off:min(off+lineScanWindow, len(b))]
		lf := bytes.IndexByte(w, '\n')
		if lf >= 0 {
			w = w[:lf]
		}
		if cr := bytes.IndexByte(w, '\r'); cr >= 0 {
			return off + cr
		}
		if lf >= 0 {
			return off + lf
		}
	}
	return -1
}

// parseDigits parses a non-empty run of ASCII digits as milliseconds,
// saturating instead of overflowing.
func parseDigits(b []byte) (time.Duration, bool) {
	if len(b) == 0 {
		return 0, false
	}
	const maxMS = math.MaxInt64 / int64(time.Millisecond)
	var ms int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms <= maxMS {
			ms = ms*10 + int64(c-'0')
		}
	}
	if ms > maxMS {
		ms = maxMS
	}
	return time.Duration(ms) * time.Millisecond, true
}

// reuse returns old when b decodes to it, and the decoded b otherwise, so
// that a stream repeating the same type or id does not allocate for it.
func reuse(old string, b []byte) string {
	if old == string(b) {
		return old
	}
	return decodeUTF8(b)
}

// decodeUTF8 returns b as a string, decoded as the WHATWG UTF-8 decoder does.
func decodeUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string(appendUTF8(nil, b))
}
