package durable

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// readQuery is a GET's parsed query.
type readQuery struct {
	offset    string // as given; "" when absent
	hasOffset bool
	live      string // "", "long-poll" or "sse"
	cursor    string
}

func parseReadQuery(r *http.Request) (readQuery, error) {
	q := r.URL.Query()
	var rq readQuery
	if vs, ok := q["offset"]; ok {
		if len(vs) != 1 {
			return rq, errors.New("offset is given more than once")
		}
		if vs[0] == "" {
			return rq, errors.New("offset is empty")
		}
		rq.offset, rq.hasOffset = vs[0], true
	}
	rq.live = q.Get("live")
	switch rq.live {
	case "", "long-poll", "sse":
	default:
		return rq, fmt.Errorf("live=%q: want long-poll or sse", rq.live)
	}
	if rq.live != "" && !rq.hasOffset {
		return rq, fmt.Errorf("live=%s needs an offset", rq.live)
	}
	rq.cursor = q.Get("cursor")
	return rq, nil
}

// isText says whether SSE data events carry a content type as text
// (§5.8): text/* and JSON; everything else is base64.
func isText(contentType string) bool {
	return strings.HasPrefix(contentType, "text/") || IsJSON(contentType)
}

// body renders records as a response body: bytes concatenated, or JSON
// messages in one array (§9.1.5).
func body(contentType string, recs []Record) []byte {
	n := 2
	for _, r := range recs {
		n += len(r.Data) + 1
	}
	b := make([]byte, 0, n)
	if !IsJSON(contentType) {
		for _, r := range recs {
			b = append(b, r.Data...)
		}
		return b
	}
	b = append(b, '[')
	first := true
	for _, r := range recs {
		if len(r.Data) == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		b = append(b, r.Data...)
		first = false
	}
	return append(b, ']')
}

func etag(info Info, from, to uint64) string {
	tag := fmt.Sprintf(`"%d:%d:%d`, info.ID, from, to)
	if info.Closed && to == info.Tail {
		tag += ":c"
	}
	return tag + `"`
}

func (s *Server) read(w http.ResponseWriter, r *http.Request, name string) {
	rq, err := parseReadQuery(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	from, now := uint64(0), false
	if rq.hasOffset {
		if from, now, err = ParseOffset(rq.offset); err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if now {
		info, err := s.cfg.Store.Stat(r.Context(), name)
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		from = info.Tail
	}
	res, err := s.cfg.Store.Read(r.Context(), name, ReadRequest{From: from, MaxBytes: s.cfg.MaxReadBytes})
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	switch rq.live {
	case "sse":
		s.sse(w, r, name, rq, res)
		return
	case "long-poll":
		if len(res.Records) == 0 && !res.Closed {
			if res, err = s.longPoll(r.Context(), name, res); err != nil {
				s.storeError(w, r, err)
				return
			}
		}
	}
	h := w.Header()
	h.Set("Content-Type", res.ContentType)
	h.Set("Stream-Next-Offset", FormatOffset(res.Next))
	atTail := res.Next == res.Tail
	if atTail {
		h.Set("Stream-Up-To-Date", "true")
		if res.Closed {
			h.Set("Stream-Closed", "true")
		}
	}
	if rq.live != "" && !(atTail && res.Closed) {
		h.Set("Stream-Cursor", s.cursor(rq.cursor))
	}
	if rq.live == "long-poll" && len(res.Records) == 0 {
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if now || (len(res.Records) == 0 && !res.Closed) {
		// An empty answer at an open tail changes with the next append:
		// caching it would hide that append.
		h.Set("Cache-Control", "no-store")
	} else {
		h.Set("Cache-Control", s.cfg.CacheControl)
	}
	if !now {
		tag := etag(res.Info, from, res.Next)
		h.Set("ETag", tag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, tag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	b := body(res.ContentType, res.Records)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func etagMatch(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == tag || t == "*" {
			return true
		}
	}
	return false
}

// longPoll waits up to the long-poll timeout for data past res.Next and
// returns the read that found it, or the last (empty) read.
func (s *Server) longPoll(ctx context.Context, name string, res ReadResult) (ReadResult, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LongPoll)
	defer cancel()
	for {
		err := s.cfg.Store.Wait(ctx, name, res.ID, res.Next)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		next, err := s.cfg.Store.Read(ctx, name, ReadRequest{From: res.Next, MaxBytes: s.cfg.MaxReadBytes})
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
				return res, nil
			}
			return res, err
		}
		if next.ID != res.ID {
			return res, ErrNotFound
		}
		if len(next.Records) > 0 || next.Closed {
			return next, nil
		}
		res = next
	}
}

// sse serves a read as Server-Sent Events: a data event per batch of
// records, each followed by a control event, live until the stream
// closes, the client leaves, or SSEDuration has passed (§5.8, §10.2).
func (s *Server) sse(w http.ResponseWriter, r *http.Request, name string, rq readQuery, res ReadResult) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if !isText(res.ContentType) {
		h.Set("Stream-SSE-Data-Encoding", "base64")
	}
	takeOver := takeable(r)
	if takeOver {
		// A taken-over response ends with its connection (live.go); a
		// client told so never puts the connection back in its pool of
		// idle ones, where its next request would meet the close.
		h.Set("Connection", "close")
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.SSEDuration)
	defer cancel()
	cursor, hasCursor := parseCursor(rq.cursor)
	var event []byte
	if len(res.Records) > 0 {
		event = encodeData(res)
	}
	var t *tail
	defer func() {
		if t != nil {
			s.unfollow(t)
		}
	}()
	var buf []byte
	for {
		var final bool
		buf, cursor, final = s.appendEvents(buf[:0], event, res, cursor, hasCursor)
		hasCursor = true
		if _, err := w.Write(buf); err != nil {
			return
		}
		if err := rc.Flush(); err != nil || final {
			return
		}
		if t == nil {
			t = s.follow(name, res.ID, res.Next)
		}
		if takeOver && res.Next == res.Tail {
			// At the tail of an open stream, with the first bytes out:
			// from here the follower writes this reader (live.go).
			deadline, _ := ctx.Deadline()
			if s.takeOver(rc, t, res.Next, cursor, deadline) {
				t = nil // the taken-over response holds the reference now
				return
			}
			takeOver = false
		}
		var ok bool
		if res, event, ok = s.sseNext(ctx, t, name, res); !ok {
			return // the client left, the connection's time is up, the store closed, or the stream is gone (the client's next request learns which)
		}
	}
}

// appendEvents appends a reader's SSE events for read res: its data event
// (event, empty when res has no records) and its control event. prev is
// the cursor the reader was last sent, or brought with its request (ok
// false: none that is a number). It returns the cursor sent (prev when
// the event is the stream's last, which carries none) and whether it is.
func (s *Server) appendEvents(dst, event []byte, res ReadResult, prev uint64, ok bool) (out []byte, cursor uint64, final bool) {
	atTail := res.Next == res.Tail
	dst = append(dst, event...)
	if atTail && res.Closed {
		return appendControl(dst, FormatOffset(res.Next), nil, true, true), prev, true
	}
	cursor = s.nextCursor(s.interval(), prev, ok)
	var num [20]byte
	return appendControl(dst, FormatOffset(res.Next), strconv.AppendUint(num[:0], cursor, 10), atTail, false), cursor, false
}

// sseNext returns the next read after res for an SSE reader, with its
// encoded data event: the tail's shared step when the follower is at the
// reader's position, else the reader's own wait and read (it lags, or is
// ahead of a follower that started behind it). ok is false when the
// reader should stop.
func (s *Server) sseNext(ctx context.Context, t *tail, name string, res ReadResult) (next ReadResult, event []byte, ok bool) {
	for {
		if st := t.at(res.Next); st != nil {
			select {
			case <-st.done:
			case <-ctx.Done():
				return res, nil, false
			}
			if st.end {
				return res, nil, false
			}
			if len(st.res.Records) > 0 || st.res.Closed {
				return st.res, st.event, true
			}
			res = st.res
			continue
		}
		if err := s.cfg.Store.Wait(ctx, name, res.ID, res.Next); err != nil {
			return res, nil, false
		}
		next, err := s.cfg.Store.Read(ctx, name, ReadRequest{From: res.Next, MaxBytes: s.cfg.MaxReadBytes})
		if err != nil || next.ID != res.ID {
			return res, nil, false
		}
		if len(next.Records) > 0 || next.Closed {
			var event []byte
			if len(next.Records) > 0 {
				event = encodeData(next)
			}
			return next, event, true
		}
		res = next
	}
}

// appendData appends payload as the data lines of an SSE event and the
// blank line that ends it. Every CR, LF or CRLF starts a new line, so no
// payload can end the event or inject a field (the receiver rejoins the
// lines with LF). Lines are written "data:line", the form the conformance
// suite expects, except that a line starting with a space gets the
// separating space, which the receiver strips, so that its own survives.
func appendData(dst, payload []byte) []byte {
	for {
		i := bytes.IndexAny(payload, "\r\n")
		line := payload
		if i >= 0 {
			line = payload[:i]
		}
		dst = append(dst, "data:"...)
		if len(line) > 0 && line[0] == ' ' {
			dst = append(dst, ' ')
		}
		dst = append(append(dst, line...), '\n')
		if i < 0 {
			return append(dst, '\n')
		}
		if payload[i] == '\r' && i+1 < len(payload) && payload[i+1] == '\n' {
			i++
		}
		payload = payload[i+1:]
	}
}

// flattenJSON validates a JSON body and flattens one level of array
// (§9.1.2): an array's elements are the messages, any other value is one.
func flattenJSON(b []byte) ([]json.RawMessage, error) {
	if !json.Valid(b) {
		return nil, errors.New("not valid JSON")
	}
	t := bytes.TrimSpace(b)
	if len(t) > 0 && t[0] == '[' {
		var msgs []json.RawMessage
		if err := json.Unmarshal(t, &msgs); err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
		return msgs, nil
	}
	return []json.RawMessage{t}, nil
}

// joinJSON is a JSON record: messages, compacted, joined by commas.
func joinJSON(msgs []json.RawMessage) []byte {
	var b bytes.Buffer
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := json.Compact(&b, m); err != nil {
			b.Write(m) // valid already; Compact fails only on invalid input
		}
	}
	return b.Bytes()
}
