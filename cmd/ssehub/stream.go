package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ssehub/ssehub/durableclient"
)

const streamSynopsis = `Usage: ssehub stream <action> [flags] URL

Works with a Durable Streams stream (such as http://localhost:8080/v1/stream/answer):
  create   create it (-content-type, -ttl, -d initial data, -close to create it closed)
  append   append -d data (text, @file, or @- for standard input); -close closes it too
  close    close it: readers see the end
  delete   delete it
  follow   print its data from -offset as it arrives, reconnecting from the last
           offset, until the stream is closed; the last offset goes to standard error
           on exit, so that "-offset" resumes there

Examples:
  ssehub stream create -content-type text/plain http://localhost:8080/v1/stream/answer
  echo hello | ssehub stream append -d @- http://localhost:8080/v1/stream/answer
  ssehub stream follow http://localhost:8080/v1/stream/answer`

func runStream(ctx context.Context, m *Main, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintln(m.Stderr, streamSynopsis)
		if len(args) == 0 {
			return usageError{fmt.Errorf("want an action: create, append, close, delete or follow")}
		}
		return nil
	}
	action := args[0]
	fs := m.newFlagSet("stream "+action, streamSynopsis)
	contentType := fs.String("content-type", "text/plain", "the stream's content type (create) or the data's (append)")
	ttl := fs.Duration("ttl", 0, "create: the stream's sliding time to live, whole seconds (0: none)")
	data := fs.String("d", "", "data: text, @file, or @- for standard input")
	closeIt := fs.Bool("close", false, "create it closed, or close it with this append")
	offset := fs.String("offset", durableclient.Start, "follow: where to start: -1 (the beginning), now (the tail), or an offset printed earlier")
	rest, err := m.parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{fmt.Errorf("want exactly one stream URL, got %d arguments", len(rest))}
	}
	u := rest[0]
	c := &durableclient.Client{}
	var body []byte
	if isFlagSet(fs, "d") {
		if body, err = m.readDataArg(*data); err != nil {
			return err
		}
	}
	switch action {
	case "create":
		res, err := c.Create(ctx, u, durableclient.CreateOptions{ContentType: *contentType, TTL: *ttl, Closed: *closeIt, Data: body})
		if err != nil {
			return err
		}
		fmt.Fprintln(m.Stdout, res.Offset)
	case "append":
		if len(body) == 0 && !*closeIt {
			return usageError{fmt.Errorf("append needs -d data (or -close)")}
		}
		res, err := c.Append(ctx, u, *contentType, body, durableclient.AppendOptions{Close: *closeIt})
		if err != nil {
			return err
		}
		fmt.Fprintln(m.Stdout, res.Offset)
	case "close":
		res, err := c.Close(ctx, u)
		if err != nil {
			return err
		}
		fmt.Fprintln(m.Stdout, res.Offset)
	case "delete":
		return c.Delete(ctx, u)
	case "follow":
		last := *offset
		defer func() { fmt.Fprintln(m.Stderr, "offset", last) }()
		c.Retry = time.Second
		for chunk, err := range c.Follow(ctx, u, *offset) {
			if err != nil {
				fmt.Fprintln(m.Stderr, "ssehub stream follow:", err)
				continue // Follow retries what can be retried and stops after a final error
			}
			if _, err := m.Stdout.Write(chunk.Data); err != nil {
				return err
			}
			last = chunk.Offset
			if chunk.Closed {
				return nil
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("the stream at %s ended without closing", u)
	default:
		return usageError{fmt.Errorf("unknown action %q: want create, append, close, delete or follow", action)}
	}
	return nil
}
