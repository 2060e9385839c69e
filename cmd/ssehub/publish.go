package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const defaultHubURL = "http://localhost:8080/.well-known/mercure"

const publishSynopsis = `
Usage: ssehub publish -topic TOPIC [-topic TOPIC...] [flags]

Publish posts an update to a Mercure hub and prints the id the hub gave it.
The token must be a JWT that the hub accepts for publishing on the topics.

Examples:

  ssehub publish -topic https://example.com/books/1 -data '{"status":"out of stock"}'
  echo hello | ssehub publish -hub https://hub.example.com/.well-known/mercure -topic chat -data -
`

func runPublish(ctx context.Context, m *Main, args []string) error {
	var (
		hub, data, id, typ, retry, token, key string
		topics                                stringsFlag
		private                               bool
		timeout                               time.Duration
	)
	fs := m.newFlagSet("publish", publishSynopsis)
	fs.StringVar(&hub, "hub", defaultHubURL, "`URL` of the hub's publish endpoint")
	fs.Var(&topics, "topic", "topic of the update, usually a URL (repeatable, at least one)")
	fs.StringVar(&data, "data", "", "content of the update: text, @file, or - (or @-) for standard input")
	fs.StringVar(&id, "id", "", "id of the update (default: the hub makes one)")
	fs.StringVar(&typ, "type", "", "event type of the update")
	fs.StringVar(&retry, "retry", "", "reconnection time for subscribers, as a duration (2s) or milliseconds (2000)")
	fs.BoolVar(&private, "private", false, "send the update only to subscribers authorized for its topics")
	fs.StringVar(&token, "token", "", "publisher JWT, sent as Authorization: Bearer")
	fs.StringVar(&key, "idempotency-key", "", "sent as the Idempotency-Key header: a retry with the same key gets the first answer\nand stores nothing twice, on any node of the hub")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "give up if the hub has not answered after this long")
	rest, err := m.parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q: give the content with -data", rest[0])}
	}
	if len(topics) == 0 {
		return usageError{errors.New("at least one -topic is required")}
	}
	u, err := url.Parse(hub)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Errorf("-hub %q: want an http or https URL such as %s", hub, defaultHubURL)}
	}

	form := url.Values{"topic": topics}
	if isFlagSet(fs, "data") {
		b, err := m.readDataArg(data)
		if err != nil {
			return err
		}
		form.Set("data", string(b))
	}
	if id != "" {
		form.Set("id", id)
	}
	if typ != "" {
		form.Set("type", typ)
	}
	if retry != "" {
		ms, err := parseRetry(retry)
		if err != nil {
			return usageError{err}
		}
		form.Set("retry", strconv.FormatInt(ms, 10))
	}
	if private {
		form.Set("private", "on")
	}

	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hub, strings.NewReader(form.Encode()))
	if err != nil {
		return usageError{fmt.Errorf("-hub %q: %w", hub, err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		// A Structured Field String, as the header's draft defines it.
		req.Header.Set("Idempotency-Key", strconv.Quote(key))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("POST %s: no answer within %v (-timeout)", u.Redacted(), timeout)
		}
		return fmt.Errorf("POST %s: %v (is the hub running there? set -hub)", u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("POST %s: reading the answer: %w", u.Redacted(), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := fmt.Sprintf("POST %s: hub answered %s", u.Redacted(), resp.Status)
		if line := firstBodyLine(body); line != "" {
			msg += ": " + line
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			if token == "" {
				msg += " (set -token or SSEHUB_TOKEN to a publisher JWT)"
			} else {
				msg += " (check that -token is a publisher JWT for these topics)"
			}
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			msg += " (check -hub: it must be the hub's publish URL, such as " + defaultHubURL + ")"
		}
		return errors.New(msg)
	}
	_, err = fmt.Fprintln(m.Stdout, strings.TrimSpace(string(body)))
	return err
}

// parseRetry reads a reconnection time given as a Go duration ("1.5s") or
// as a whole number of milliseconds ("1500") and returns milliseconds.
func parseRetry(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 {
			return 0, fmt.Errorf("-retry %q: must not be negative", s)
		}
		return ms, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("-retry %q: want a duration such as 2s or a number of milliseconds", s)
	}
	return d.Milliseconds(), nil
}

// firstBodyLine returns the first non-blank line of an answer's body, cut to
// 200 bytes.
func firstBodyLine(b []byte) string {
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" {
			if len(line) > 200 {
				line = strings.ToValidUTF8(line[:200], "") + "…"
			}
			return line
		}
	}
	return ""
}
