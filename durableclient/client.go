// Package durableclient is a Go client of the Durable Streams protocol:
// create, append, close, delete and inspect a stream, read it from an
// offset, and follow it live over SSE, reconnecting from the last offset
// whenever the server ends a response, until the stream closes.
//
//	c := &durableclient.Client{}
//	c.Create(ctx, url, durableclient.CreateOptions{ContentType: "text/plain"})
//	c.Append(ctx, url, "text/plain", []byte("hello"), durableclient.AppendOptions{})
//	for chunk, err := range c.Follow(ctx, url, durableclient.Start) { … }
package durableclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ssehub/ssehub/sse"
)

// Offsets a reader may start from besides one the server returned.
const (
	Start = "-1"  // the stream's beginning
	Now   = "now" // its current tail
)

// Client talks to Durable Streams servers. The zero value is usable.
type Client struct {
	// HTTP makes the requests; nil: http.DefaultClient.
	HTTP *http.Client
	// Header is added to every request (authentication, say).
	Header http.Header
	// Retry is the pause before a live read reconnects after an error;
	// 0: one second. A server ending an SSE response normally is
	// reconnected at once.
	Retry time.Duration
}

// StatusError is an answer with an unexpected status.
type StatusError struct {
	Method, URL string
	Status      int
	Body        string
	Header      http.Header
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("durableclient: %s %s: %d %s: %s", e.Method, e.URL, e.Status, http.StatusText(e.Status), strings.TrimSpace(e.Body))
}

// Result is what a write answered.
type Result struct {
	// Status is the HTTP status (201 created, 200 existing, 204, …).
	Status int
	// Offset is Stream-Next-Offset: the stream's tail after the write.
	Offset string
	// Closed is Stream-Closed.
	Closed bool
}

// Meta is what HEAD answered.
type Meta struct {
	ContentType string
	Offset      string
	Closed      bool
	TTL         string
	ExpiresAt   string
}

// Chunk is a piece of a stream and the position after it.
type Chunk struct {
	// Data is the bytes (for JSON streams, a JSON array of messages).
	Data []byte
	// Offset is where the next read starts.
	Offset string
	// UpToDate: Data reaches the stream's tail as it was.
	UpToDate bool
	// Closed: the stream is closed and Data reaches its end: nothing more
	// will come.
	Closed bool
}

// CreateOptions are a create's headers.
type CreateOptions struct {
	ContentType string
	TTL         time.Duration // whole seconds; 0: none
	ExpiresAt   time.Time     // zero: none
	Closed      bool
	Data        []byte
}

// AppendOptions are an append's optional headers.
type AppendOptions struct {
	// Close closes the stream with this append.
	Close bool
	// Seq is Stream-Seq.
	Seq string
	// Producer is an idempotent producer; nil: none.
	Producer *Producer
}

// Producer is an idempotent producer's identity and position.
type Producer struct {
	ID         string
	Epoch, Seq uint64
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) do(ctx context.Context, method, u string, body []byte, h http.Header) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, fmt.Errorf("durableclient: %s %s: %w", method, u, err)
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	res, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("durableclient: %s %s: %w", method, u, err)
	}
	return res, nil
}

func statusError(res *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	return &StatusError{Method: res.Request.Method, URL: res.Request.URL.String(), Status: res.StatusCode, Body: string(b), Header: res.Header}
}

func result(res *http.Response) (Result, error) {
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		return Result{}, statusError(res)
	}
	io.Copy(io.Discard, res.Body)
	return Result{Status: res.StatusCode, Offset: res.Header.Get("Stream-Next-Offset"),
		Closed: strings.EqualFold(res.Header.Get("Stream-Closed"), "true")}, nil
}

// Create creates the stream at u, or confirms it exists alike (Status 200).
func (c *Client) Create(ctx context.Context, u string, o CreateOptions) (Result, error) {
	h := http.Header{}
	if o.ContentType != "" {
		h.Set("Content-Type", o.ContentType)
	}
	if o.TTL > 0 {
		h.Set("Stream-TTL", strconv.FormatInt(int64(o.TTL/time.Second), 10))
	}
	if !o.ExpiresAt.IsZero() {
		h.Set("Stream-Expires-At", o.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if o.Closed {
		h.Set("Stream-Closed", "true")
	}
	res, err := c.do(ctx, http.MethodPut, u, o.Data, h)
	if err != nil {
		return Result{}, err
	}
	return result(res)
}

// Append appends data, of contentType, to the stream at u.
func (c *Client) Append(ctx context.Context, u, contentType string, data []byte, o AppendOptions) (Result, error) {
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if o.Close {
		h.Set("Stream-Closed", "true")
	}
	if o.Seq != "" {
		h.Set("Stream-Seq", o.Seq)
	}
	if p := o.Producer; p != nil {
		h.Set("Producer-Id", p.ID)
		h.Set("Producer-Epoch", strconv.FormatUint(p.Epoch, 10))
		h.Set("Producer-Seq", strconv.FormatUint(p.Seq, 10))
	}
	if data == nil {
		data = []byte{}
	}
	res, err := c.do(ctx, http.MethodPost, u, data, h)
	if err != nil {
		return Result{}, err
	}
	return result(res)
}

// Close closes the stream at u without appending; closing a closed
// stream succeeds.
func (c *Client) Close(ctx context.Context, u string) (Result, error) {
	return c.Append(ctx, u, "", nil, AppendOptions{Close: true})
}

// Delete deletes the stream at u.
func (c *Client) Delete(ctx context.Context, u string) error {
	res, err := c.do(ctx, http.MethodDelete, u, nil, nil)
	if err != nil {
		return err
	}
	_, err = result(res)
	return err
}

// Head returns the stream's metadata.
func (c *Client) Head(ctx context.Context, u string) (Meta, error) {
	res, err := c.do(ctx, http.MethodHead, u, nil, nil)
	if err != nil {
		return Meta{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return Meta{}, statusError(res)
	}
	h := res.Header
	return Meta{ContentType: h.Get("Content-Type"), Offset: h.Get("Stream-Next-Offset"),
		Closed: strings.EqualFold(h.Get("Stream-Closed"), "true"), TTL: h.Get("Stream-TTL"), ExpiresAt: h.Get("Stream-Expires-At")}, nil
}

func withQuery(u string, kv ...string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("durableclient: stream URL %q: %w", u, err)
	}
	q := p.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	p.RawQuery = q.Encode()
	return p.String(), nil
}

// Read reads one catch-up response of the stream at u from offset.
func (c *Client) Read(ctx context.Context, u, offset string) (Chunk, error) {
	ru, err := withQuery(u, "offset", offset)
	if err != nil {
		return Chunk{}, err
	}
	res, err := c.do(ctx, http.MethodGet, ru, nil, nil)
	if err != nil {
		return Chunk{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return Chunk{}, statusError(res)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Chunk{}, fmt.Errorf("durableclient: reading %s: %w", ru, err)
	}
	h := res.Header
	return Chunk{Data: b, Offset: h.Get("Stream-Next-Offset"), UpToDate: h.Get("Stream-Up-To-Date") == "true",
		Closed: strings.EqualFold(h.Get("Stream-Closed"), "true")}, nil
}

// control is an SSE control event.
type control struct {
	StreamNextOffset string `json:"streamNextOffset"`
	StreamCursor     string `json:"streamCursor"`
	UpToDate         bool   `json:"upToDate"`
	StreamClosed     bool   `json:"streamClosed"`
}

// ErrStreamGone is returned by Follow when the stream was deleted.
var ErrStreamGone = errors.New("durableclient: stream deleted")

// Follow reads the stream at u from offset over SSE and yields each data
// event with the offset after it (control events carry no data and are
// yielded only when they change the state: up to date, closed). It
// reconnects from the last offset whenever the server ends a response
// and stops after the chunk that reports closure, when ctx ends, or at
// the first error the caller does not continue past: a 4xx answer is
// final, other errors are yielded and retried after c.Retry.
func (c *Client) Follow(ctx context.Context, u, offset string) iter.Seq2[Chunk, error] {
	return func(yield func(Chunk, error) bool) {
		cursor := ""
		retry := c.Retry
		if retry <= 0 {
			retry = time.Second
		}
		for ctx.Err() == nil {
			closed, err := c.followOnce(ctx, u, &offset, &cursor, yield)
			if closed {
				return
			}
			if err == nil {
				continue // the server ended the response: reconnect from offset
			}
			if ctx.Err() != nil {
				return
			}
			var se *StatusError
			if errors.As(err, &se) && se.Status < 500 && se.Status != http.StatusTooManyRequests {
				if se.Status == http.StatusNotFound || se.Status == http.StatusGone {
					err = fmt.Errorf("%w: %w", ErrStreamGone, err)
				}
				yield(Chunk{}, err)
				return
			}
			if !yield(Chunk{}, err) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
		}
	}
}

// followOnce reads one SSE response; closed is true when the stream closed
// or the caller stopped.
func (c *Client) followOnce(ctx context.Context, u string, offset, cursor *string, yield func(Chunk, error) bool) (closed bool, err error) {
	kv := []string{"offset", *offset, "live", "sse"}
	if *cursor != "" {
		kv = append(kv, "cursor", *cursor)
	}
	ru, err := withQuery(u, kv...)
	if err != nil {
		return false, err
	}
	res, err := c.do(ctx, http.MethodGet, ru, nil, http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return false, statusError(res)
	}
	b64 := strings.EqualFold(res.Header.Get("Stream-SSE-Data-Encoding"), "base64")
	var pending []byte
	havePending := false
	for ev, err := range sse.Read(res.Body) {
		if err != nil {
			return false, fmt.Errorf("durableclient: reading %s: %w", ru, err)
		}
		switch ev.Type {
		case "data":
			data := []byte(ev.Data)
			if b64 {
				clean := strings.NewReplacer("\n", "", "\r", "").Replace(ev.Data)
				if data, err = base64.StdEncoding.DecodeString(clean); err != nil {
					return false, fmt.Errorf("durableclient: %s: a base64 data event does not decode: %w", ru, err)
				}
			}
			pending, havePending = append(pending, data...), true
		case "control":
			var ctl control
			if err := json.Unmarshal([]byte(ev.Data), &ctl); err != nil {
				return false, fmt.Errorf("durableclient: %s: control event %q: %w", ru, ev.Data, err)
			}
			*offset = ctl.StreamNextOffset
			if ctl.StreamCursor != "" {
				*cursor = ctl.StreamCursor
			}
			if havePending || ctl.StreamClosed || ctl.UpToDate {
				if !yield(Chunk{Data: pending, Offset: ctl.StreamNextOffset, UpToDate: ctl.UpToDate || ctl.StreamClosed, Closed: ctl.StreamClosed}, nil) {
					return true, nil
				}
			}
			pending, havePending = nil, false
			if ctl.StreamClosed {
				return true, nil
			}
		}
	}
	return false, nil
}
