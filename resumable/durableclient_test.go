package resumable

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/durable/durabletest"
	"github.com/ssehub/ssehub/durableclient"
	"github.com/ssehub/ssehub/sse"
)

// TestStreams_AnAnswerIsReadIdenticallyByADurableStreamsClient starts an
// answer through the resumable handler, reads it as a browser does, and
// reads it again with the Durable Streams client at /v1/stream/answers/<id>,
// by catch-up and live over SSE while it is still being written: the same
// events, in the same order, at the same offsets.
func TestStreams_AnAnswerIsReadIdenticallyByADurableStreamsClient(t *testing.T) {
	st := memoryStore(t)
	release := make(chan struct{})
	n := newNode(t, st, func(ctx context.Context, w *Writer) error {
		for _, ev := range []sse.Event{
			{Type: "ping", Data: "ping"},
			{Data: `{"content":"故人"}`},
			{Data: "two\nlines"},
			{Type: "message", Data: " leading space"},
		} {
			if err := w.Send(ctx, ev); err != nil {
				return err
			}
		}
		<-release // the live reader joins while the answer runs
		return w.SendJSON(ctx, map[string]string{"content": "西辞"})
	})
	dsRoot := durabletest.Serve(t, durable.Config{Store: st})

	parser := sse.NewParser(open(t, n.url, "").Body)
	browser := events(t, parser, 4)
	id, _, _ := ParseEventID(browser[0].ID)
	u := dsRoot + n.streams.Name(id)

	c := &durableclient.Client{}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var live []sse.Event
	followed := make(chan error, 1)
	go func() {
		for chunk, err := range c.Follow(ctx, u, durableclient.Start) {
			if err != nil {
				followed <- err
				return
			}
			evs, err := fromChunk(id, uint64(len(live)), chunk.Data)
			if err != nil {
				followed <- err
				return
			}
			live = append(live, evs...)
			if len(live) == 4 {
				close(release)
			}
		}
		followed <- nil
	}()
	browser = append(browser, events(t, parser, -1)...)
	if err := <-followed; err != nil {
		t.Fatal(err)
	}
	chunk, err := c.Read(ctx, u, durableclient.Start)
	if err != nil {
		t.Fatal(err)
	}
	caughtUp, err := fromChunk(id, 0, chunk.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(browser) != 6 {
		t.Fatalf("the browser read %d events, want 6: %s", len(browser), describe(browser))
	}
	for name, got := range map[string][]sse.Event{"live over SSE": live, "catch-up": caughtUp} {
		if describe(got) != describe(browser) {
			t.Fatalf("the Durable Streams client read, %s:\n%s\nthe browser:\n%s", name, describe(got), describe(browser))
		}
	}
	if !chunk.Closed || chunk.Offset != durable.FormatOffset(6) {
		t.Fatalf("catch-up read ends at %s closed=%v, want %s closed", chunk.Offset, chunk.Closed, durable.FormatOffset(6))
	}
}

// fromChunk turns a JSON-mode chunk (an array of messages starting at
// position from) into the events the browser sees.
func fromChunk(id string, from uint64, data []byte) ([]sse.Event, error) {
	if len(data) == 0 {
		return nil, nil // a control event without data
	}
	var msgs []struct{ Type, Data string }
	if err := json.Unmarshal(data, &msgs); err != nil {
		return nil, err
	}
	var out []sse.Event
	for i, m := range msgs {
		if m.Type == "" {
			m.Type = "message" // what EventSource and sse.Parser report
		}
		out = append(out, sse.Event{ID: eventID(id, from+uint64(i)+1), Type: m.Type, Data: m.Data})
	}
	return out, nil
}
