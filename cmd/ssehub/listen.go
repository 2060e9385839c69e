package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ssehub/ssehub/client"
	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/durableclient"
	"github.com/ssehub/ssehub/sse"
)

const listenSynopsis = `
Usage: ssehub listen [flags] URL

Listen prints each event of the event stream at URL as it arrives, and
reconnects as a browser does (with Last-Event-ID) when the connection drops.

It exits with status 0 when the stream ends normally: the server answers
204 No Content, -max-events events were printed, or the -end marker came.
Otherwise it exits with status 1 and prints the reason on one line.

With -topic (or -urlpattern), URL is a Mercure hub: listen subscribes to
the topics in the protocol of -draft, 07 (topic=, lastEventID=) or 08
(match=, match_urlpattern=, last_event_id=), and -last-event-id goes in the
URL as the draft names it; -token sends the token (from "ssehub token").

With -durable, or when URL's path contains /v1/stream/, URL is a Durable
Streams stream: listen prints its data as it arrives from -offset (with
-json, one object per chunk with the offset after it), reconnects from the
last offset whenever the connection ends, and exits 0 when the stream is
closed; with -v it prints the last offset on standard error, to resume
with -offset.

Examples:

  ssehub listen http://localhost:8080/events
  ssehub listen -json -max-events 10 http://localhost:8080/events
  ssehub listen -comments -v http://localhost:8080/events
  ssehub listen -topic https://example.com/books/1 http://localhost:8080/.well-known/mercure
  ssehub listen -draft 08 -urlpattern 'https://example.com/books/:id' -last-event-id earliest \
      http://localhost:8080/.well-known/mercure
  ssehub listen http://localhost:8080/v1/stream/answer
  ssehub listen -d @request.json -H 'Authorization: Bearer $KEY' \
      -H 'Content-Type: application/json' -end '[DONE]' https://api.example.com/v1/chat
`

// headerFlag collects repeated -H 'Name: value' flags.
type headerFlag struct{ h http.Header }

func (f *headerFlag) String() string {
	if f == nil || f.h == nil {
		return ""
	}
	var parts []string
	for name, values := range f.h {
		for _, v := range values {
			parts = append(parts, name+": "+v)
		}
	}
	return strings.Join(parts, ", ")
}

func (f *headerFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return fmt.Errorf("header %q: want 'Name: value'", s)
	}
	if f.h == nil {
		f.h = http.Header{}
	}
	f.h.Add(name, strings.TrimSpace(value))
	return nil
}

// listenOptions are the flags of listen.
type listenOptions struct {
	method            string
	header            headerFlag
	data              string
	lastEventID       string
	noReconnect       bool
	maxEvents         int
	timeout           time.Duration
	idleTimeout       time.Duration
	end               string
	maxAttempts       int
	retryServerErrors bool
	json              bool
	verbose           bool
	comments          bool
	maxLineBytes      int
	maxEventBytes     int
	durable           bool
	offset            string
	draft             string
	topics            stringsFlag
	urlPatterns       stringsFlag
	token             string
}

// mercureURL returns the subscription URL to a Mercure hub at hub for the
// topics and URL patterns of o, in the parameters of o's draft, with the
// last event ID in it.
func mercureURL(hub string, o listenOptions) (string, error) {
	u, err := url.Parse(hub)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usageError{fmt.Errorf("URL %q: want the http or https URL of a Mercure hub such as %s", hub, defaultHubURL)}
	}
	q := u.Query()
	switch o.draft {
	case "07":
		if len(o.urlPatterns) > 0 {
			return "", usageError{errors.New("-urlpattern is draft 08's: give -draft 08, or URI templates with -topic")}
		}
		q["topic"] = append(q["topic"], o.topics...)
		if o.lastEventID != "" {
			q.Set("lastEventID", o.lastEventID)
		}
	case "08":
		q["match"] = append(q["match"], o.topics...)
		q["match_urlpattern"] = append(q["match_urlpattern"], o.urlPatterns...)
		if o.lastEventID != "" {
			q.Set("last_event_id", o.lastEventID)
		}
	default:
		return "", usageError{fmt.Errorf("-draft %q: want 07 or 08", o.draft)}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func runListen(ctx context.Context, m *Main, args []string) error {
	var o listenOptions
	fs := m.newFlagSet("listen", listenSynopsis)
	fs.StringVar(&o.method, "X", "", "HTTP `method` (default GET, or POST with -d)")
	fs.Var(&o.header, "H", "request header 'Name: value' (repeatable)")
	fs.StringVar(&o.token, "token", "", "send this token as Authorization: Bearer (such as one from \"ssehub token\")")
	fs.StringVar(&o.data, "d", "", "request body: text, @file, or @- for standard input; sent again on every reconnection")
	fs.StringVar(&o.lastEventID, "last-event-id", "", "send this Last-Event-ID on the first request, to resume a stream")
	fs.BoolVar(&o.noReconnect, "no-reconnect", false, "connect once: exit 0 when the body ends, 1 on any failure")
	fs.IntVar(&o.maxEvents, "max-events", 0, "exit 0 after printing `N` events (0: no limit)")
	fs.DurationVar(&o.timeout, "timeout", 0, "exit 1 if the stream has not ended after this long (0: no limit)")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 0, "drop a connection on which nothing arrived for this long (0: no limit)")
	fs.StringVar(&o.end, "end", "", "a data value that ends the stream, such as [DONE]; it is not printed")
	fs.IntVar(&o.maxAttempts, "max-attempts", 0, "give up after `N` consecutive attempts without an event (0: never)")
	fs.BoolVar(&o.retryServerErrors, "retry-server-errors", false, "retry 5xx and 429 answers with backoff instead of exiting")
	fs.BoolVar(&o.json, "json", false, `print one JSON object per event and line: {"type":...,"data":...,"id":...}`)
	fs.BoolVar(&o.verbose, "v", false, "report connection state changes on standard error")
	fs.BoolVar(&o.comments, "comments", false, `print the stream's comments too (": text" lines, such as heartbeats), in order with the events`)
	fs.IntVar(&o.maxLineBytes, "max-line-bytes", 0, "exit 1 if a line of the stream is longer than `N` bytes (0: no limit, as in browsers)")
	fs.IntVar(&o.maxEventBytes, "max-event-bytes", 0, "exit 1 if the data of an event is larger than `N` bytes (0: no limit, as in browsers)")
	fs.BoolVar(&o.durable, "durable", false, "URL is a Durable Streams stream: follow it from -offset until it is closed\n(the default when URL's path contains "+durable.DefaultPrefix+")")
	fs.StringVar(&o.draft, "draft", "07", "with -topic or -urlpattern: the Mercure protocol to speak, 07 or 08")
	fs.Var(&o.topics, "topic", "subscribe to this topic of the Mercure hub at URL (repeatable): a topic selector\n(draft 07: URI template or exact topic) or an exact topic (draft 08)")
	fs.Var(&o.urlPatterns, "urlpattern", "subscribe to the topics matching this URL pattern (draft 08, repeatable)")
	fs.StringVar(&o.offset, "offset", durableclient.Start, "with -durable: where to start: -1 (the beginning), now (the tail), or an offset\nprinted earlier")
	rest, err := m.parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{fmt.Errorf("want exactly one URL, got %d arguments", len(rest))}
	}
	if o.token != "" {
		if o.header.h.Get("Authorization") != "" {
			return usageError{errors.New("-token and -H 'Authorization: …' both name the credentials: give one")}
		}
		if o.header.h == nil {
			o.header.h = http.Header{}
		}
		o.header.h.Set("Authorization", "Bearer "+o.token)
	}
	if o.durable || strings.Contains(rest[0], durable.DefaultPrefix) && !isFlagSet(fs, "durable") {
		return m.listenDurable(ctx, rest[0], o)
	}
	if o.maxEvents < 0 || o.maxAttempts < 0 || o.timeout < 0 || o.idleTimeout < 0 || o.maxLineBytes < 0 || o.maxEventBytes < 0 {
		return usageError{errors.New("-max-events, -max-attempts, -timeout, -idle-timeout, -max-line-bytes and -max-event-bytes must not be negative")}
	}
	target := rest[0]
	if len(o.topics)+len(o.urlPatterns) > 0 {
		if target, err = mercureURL(target, o); err != nil {
			return err
		}
		o.lastEventID = "" // in the URL, as a browser would send it
	}
	c := &client.Client{
		URL:               target,
		Method:            o.method,
		Header:            o.header.h,
		LastEventID:       o.lastEventID,
		EndData:           o.end,
		NoReconnect:       o.noReconnect,
		MaxAttempts:       o.maxAttempts,
		RetryServerErrors: o.retryServerErrors,
		ReadIdleTimeout:   o.idleTimeout,
		MaxLineBytes:      o.maxLineBytes,
		MaxEventBytes:     o.maxEventBytes,
	}
	if isFlagSet(fs, "d") {
		body, err := m.readDataArg(o.data)
		if err != nil {
			return err
		}
		c.Body = body
		if c.Method == "" {
			c.Method = http.MethodPost
		}
	}
	if o.verbose {
		c.OnStateChange = func(st client.State, err error) {
			if err != nil {
				fmt.Fprintf(m.Stderr, "ssehub listen: %s: %s\n", st, oneLine(err))
			} else {
				fmt.Fprintf(m.Stderr, "ssehub listen: %s\n", st)
			}
		}
	}

	runCtx := ctx
	if o.timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	emit, emitComment := printText, printTextComment
	if o.json {
		emit, emitComment = printJSON, printJSONComment
	}
	var commentErr error
	if o.comments {
		// OnComment runs on the goroutine of the loop below, in order with
		// the events it yields.
		c.OnComment = func(text string) {
			if commentErr == nil {
				commentErr = emitComment(m.Stdout, text)
			}
		}
	}
	n := 0
	for ev, err := range c.Events(runCtx) {
		if err != nil {
			return listenError(ctx, runCtx, o, err)
		}
		if commentErr != nil {
			return fmt.Errorf("writing a comment: %w", commentErr)
		}
		if err := emit(m.Stdout, ev); err != nil {
			return fmt.Errorf("writing event: %w", err)
		}
		if n++; o.maxEvents > 0 && n >= o.maxEvents {
			break
		}
	}
	return nil
}

// listenDurable follows the Durable Streams stream at u: data as it
// arrives, reconnecting from the last offset, until the stream closes.
func (m *Main) listenDurable(ctx context.Context, u string, o listenOptions) error {
	if o.method != "" || o.data != "" || o.end != "" || o.comments || o.lastEventID != "" {
		return usageError{errors.New("-durable reads with the protocol's GET: -X, -d, -end, -comments and -last-event-id do not apply (use -offset)")}
	}
	runCtx := ctx
	if o.timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	c := &durableclient.Client{Header: o.header.h, Retry: time.Second}
	last := o.offset
	if o.verbose {
		defer func() { fmt.Fprintln(m.Stderr, "ssehub listen: offset", last) }()
	}
	n, failures := 0, 0
	var lastErr error
	for chunk, err := range c.Follow(runCtx, u, o.offset) {
		if err != nil {
			// Follow retries what can be retried and ends after a final
			// error (a 4xx answer, the stream deleted).
			lastErr = err
			if failures++; o.maxAttempts > 0 && failures >= o.maxAttempts {
				return fmt.Errorf("giving up after %d attempts: %s", failures, oneLine(err))
			}
			if o.verbose {
				fmt.Fprintf(m.Stderr, "ssehub listen: %s\n", oneLine(err))
			}
			continue
		}
		failures = 0
		last = chunk.Offset
		if err := printChunk(m.Stdout, chunk, o.json); err != nil {
			return fmt.Errorf("writing data: %w", err)
		}
		if chunk.Closed {
			return nil
		}
		if len(chunk.Data) > 0 {
			if n++; o.maxEvents > 0 && n >= o.maxEvents {
				return nil
			}
		}
	}
	switch {
	case ctx.Err() != nil:
		return errors.New("interrupted")
	case runCtx.Err() != nil:
		return fmt.Errorf("the stream was not closed within %v (-timeout)", o.timeout)
	case lastErr != nil:
		return errors.New(strings.TrimPrefix(oneLine(lastErr), "durableclient: "))
	}
	return fmt.Errorf("following %s ended before the stream was closed", u)
}

// jsonChunk is the line printed for each chunk of a Durable Stream with
// -json.
type jsonChunk struct {
	Data     string `json:"data"`
	Offset   string `json:"offset"`
	UpToDate bool   `json:"upToDate,omitempty"`
	Closed   bool   `json:"closed,omitempty"`
}

// printChunk prints a Durable Streams chunk: its bytes as they are, or
// with asJSON one object per chunk (an empty one too, when it reports the
// stream up to date or closed).
func printChunk(w io.Writer, c durableclient.Chunk, asJSON bool) error {
	if !asJSON {
		_, err := w.Write(c.Data)
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(jsonChunk{Data: string(c.Data), Offset: c.Offset, UpToDate: c.UpToDate, Closed: c.Closed})
}

// listenError turns the error that ended the stream into the one-line
// reason listen exits with, with a hint of what to do where there is one.
func listenError(ctx, runCtx context.Context, o listenOptions, err error) error {
	switch {
	case ctx.Err() != nil:
		return errors.New("interrupted")
	case runCtx.Err() != nil:
		return fmt.Errorf("the stream did not end within %v (-timeout)", o.timeout)
	}
	msg := oneLine(err)
	var rerr *client.ResponseError
	switch {
	case errors.As(err, &rerr) && (rerr.StatusCode == http.StatusUnauthorized || rerr.StatusCode == http.StatusForbidden):
		msg += " (send credentials with -H 'Authorization: ...')"
	case errors.As(err, &rerr) && rerr.StatusCode >= 500 && !o.retryServerErrors:
		msg += " (use -retry-server-errors to keep trying)"
	case errors.Is(err, client.ErrBadContentType):
		msg += " (is this the URL of an event stream?)"
	case errors.Is(err, sse.ErrLineTooLong), errors.Is(err, sse.ErrEventTooLarge):
		msg += " (is this the URL of an event stream?)"
	}
	return errors.New(msg)
}

// oneLine returns the message of err without the client package's prefix,
// on a single line.
func oneLine(err error) string {
	msg := strings.TrimPrefix(err.Error(), "client: ")
	return strings.Join(strings.Fields(msg), " ")
}

// jsonEvent is the line printed for each event with -json.
type jsonEvent struct {
	Type string `json:"type"`
	Data string `json:"data"`
	ID   string `json:"id"`
}

func printJSON(w io.Writer, ev sse.Event) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(jsonEvent{Type: ev.Type, Data: ev.Data, ID: ev.ID})
}

// jsonComment is the line printed for each comment with -json -comments.
type jsonComment struct {
	Comment string `json:"comment"`
}

func printJSONComment(w io.Writer, text string) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(jsonComment{Comment: text})
}

// printTextComment prints a comment as the stream sent it, on one line.
func printTextComment(w io.Writer, text string) error {
	_, err := io.WriteString(w, ": "+text+"\n")
	return err
}

// printText prints an event for people: a header line with its type and id,
// then its data, each line indented, then a blank line.
func printText(w io.Writer, ev sse.Event) error {
	var b strings.Builder
	b.WriteString(ev.Type)
	if ev.ID != "" {
		b.WriteString("  id=" + ev.ID)
	}
	b.WriteByte('\n')
	for line := range strings.SplitSeq(ev.Data, "\n") {
		b.WriteString("  " + line + "\n")
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// readDataArg returns the bytes that a -d or -data flag stands for: the text
// itself, the contents of the file after '@', or standard input for '@-'
// or '-'.
func (m *Main) readDataArg(v string) ([]byte, error) {
	switch {
	case v == "-" || v == "@-":
		b, err := io.ReadAll(m.Stdin)
		if err != nil {
			return nil, fmt.Errorf("reading data from standard input: %w", err)
		}
		return b, nil
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return nil, fmt.Errorf("reading data: %w", err)
		}
		return b, nil
	}
	return []byte(v), nil
}

// parseInterspersed parses args like parseFlags, but lets flags follow the
// positional arguments ("ssehub listen URL -json"), which it returns. An
// argument "--" ends the flags.
func (m *Main) parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// fs.Parse drops a "--" that ends the flags: everything after it
		// is positional.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Parsing no arguments keeps what was set and applies the environment.
	return positional, m.parseFlags(fs, nil)
}

// isFlagSet reports whether the flag name was set, on the command line or
// in the environment.
func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
