// Package demo is the typewriter demo: the page of the original Spring
// example and the stream that types a poem into it piece by piece.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ssehub/ssehub/resumable"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/stream"
	"github.com/ssehub/ssehub/web"
)

// Poem is the text the demo types out, as in the original example.
const Poem = "故人西辞黄鹤楼，烟花三月下扬州。\n孤帆远影碧空尽，唯见长江天际流。"

// DefaultDelay is the pause between two pieces, as in the original example.
const DefaultDelay = 300 * time.Millisecond

// DoneEvent is the type of the event that ends the stream: the resumable
// streams' terminal event, which the page waits for. The page closes its
// EventSource when it arrives, instead of relying on onerror.
const DoneEvent = resumable.DefaultDoneType

// Options configures the demo. The zero value types Poem with DefaultDelay
// on a plain stream, as the original example does.
type Options struct {
	// Streams, when set, makes the stream resumable: the poem is typed by
	// a producer that keeps going when the connection drops, and the
	// browser's reconnection resumes where it stopped. Nil serves the
	// original, non-resumable stream.
	Streams *resumable.Streams
	// Delay between two pieces. Zero means DefaultDelay; negative, none.
	Delay time.Duration
	// Text to type. Empty means Poem.
	Text string
	// Stream configures each response stream.
	Stream stream.Options
}

// Piece is the data of one message event, as JSON.
type Piece struct {
	ID        string `json:"id"`        // one UUID per stream
	Content   string `json:"content"`   // 1 to 3 characters of the text
	Timestamp int64  `json:"timestamp"` // Unix milliseconds when sent
}

// Handler serves the demo: GET / is the page, GET /sse/stream the stream.
func Handler(opts Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", web.Handler())
	mux.Handle("GET /sse/stream", StreamHandler(opts))
	return mux
}

// StreamHandler sends a "ping" event, then the text in random pieces of one
// to three characters as "message" events whose data is a Piece, Delay
// apart, then a DoneEvent, and completes.
//
// With Options.Streams the same events are an answer of Streams: a durable
// stream that each response follows, every event with the id
// "<answer>/<offset>"; the answer's id is the Piece ID, and the DoneEvent is
// its terminal event, after which a reconnection is answered 204.
func StreamHandler(opts Options) http.Handler {
	if opts.Delay == 0 {
		opts.Delay = DefaultDelay
	}
	if opts.Text == "" {
		opts.Text = Poem
	}
	if opts.Streams != nil {
		return opts.Streams.Handler(func(ctx context.Context, w *resumable.Writer) error {
			return typePoem(ctx, opts, w.StreamID(), func(ev sse.Event) error { return w.Send(ctx, ev) })
		})
	}
	return stream.Handler(&opts.Stream, func(ctx context.Context, s *stream.Stream) error {
		id := uuid.NewString()
		if err := typePoem(ctx, opts, id, s.Send); err != nil {
			return err
		}
		return s.Send(sse.Event{Type: DoneEvent, Data: id})
	})
}

// typePoem sends the ping and the pieces of the text through send.
func typePoem(ctx context.Context, opts Options, id string, send func(sse.Event) error) error {
	if err := send(sse.Event{Type: "ping", Data: "ping"}); err != nil {
		return err
	}
	for i, p := range Pieces(opts.Text, rand.IntN) {
		if i > 0 && opts.Delay > 0 {
			if err := sleep(ctx, opts.Delay); err != nil {
				return err
			}
		}
		data, err := json.Marshal(Piece{ID: id, Content: p, Timestamp: time.Now().UnixMilli()})
		if err != nil {
			return fmt.Errorf("demo: encoding a piece: %w", err)
		}
		if err := send(sse.Event{Data: string(data)}); err != nil {
			return err
		}
	}
	return nil
}

// Pieces cuts text into pieces of one to three characters (runes, never
// bytes), sizes drawn from intN(3)+1. Joined, the pieces are text.
func Pieces(text string, intN func(n int) int) []string {
	var out []string
	for text != "" {
		n := intN(3) + 1
		end := 0
		for range n {
			if end == len(text) {
				break
			}
			_, size := utf8.DecodeRuneInString(text[end:])
			end += size
		}
		out = append(out, text[:end])
		text = text[end:]
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
