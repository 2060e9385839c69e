package console

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/ssehub/ssehub/resumable"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/stream"
)

// StreamSource is where resumable answers live: durable streams the
// console lists and follows (resumable.Streams is one).
type StreamSource interface {
	// Answers lists up to limit answers, newest first.
	Answers(ctx context.Context, limit int) ([]resumable.Answer, error)
	// Events follows answer id from position from to its end.
	Events(ctx context.Context, id string, from uint64) iter.Seq2[sse.Event, error]
}

// Bounds of the streams list.
const (
	maxStreams     = 200
	streamsTimeout = 5 * time.Second
)

// streamRow is one resumable answer in the console's list.
type streamRow struct {
	ID      string `json:"id"`
	Name    string `json:"name"` // its durable stream, under the Durable Streams prefix
	Events  int    `json:"events"`
	Closed  bool   `json:"closed"`
	End     string `json:"end,omitempty"` // the terminal event's type: done or error
	Readers int    `json:"readers"`       // followers on this node
	First   int64  `json:"first"`         // started, Unix milliseconds
	Last    int64  `json:"last"`          // last written or read
}

// streamList is the answer of the streams API.
type streamList struct {
	Streams []streamRow `json:"streams"`
}

// streams lists the resumable answers started lately, newest first: open
// or closed, events, and readers on this node.
func (c *Console) streams(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Streams == nil {
		http.Error(w, "console: this hub serves no resumable streams", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), streamsTimeout)
	defer cancel()
	answers, err := c.cfg.Streams.Answers(ctx, maxStreams)
	if err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "console: reading the streams: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	list := streamList{Streams: make([]streamRow, 0, len(answers))}
	for _, a := range answers {
		row := streamRow{ID: a.ID, Name: a.Name, Events: a.Events, Closed: a.Closed, End: a.End,
			Readers: a.Followers, First: a.Started.UnixMilli()}
		if !a.Used.IsZero() {
			row.Last = a.Used.UnixMilli()
		}
		list.Streams = append(list.Streams, row)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(list)
}

// tailAnswer streams the events of the answer the one topic parameter
// names as "update" events, like the hub's tail: from=earliest from its
// start, from=<event id> after that event, else from now on.
func (c *Console) tailAnswer(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ids := q["topic"]
	if len(ids) != 1 || ids[0] == "" {
		http.Error(w, "console: tailing resumable streams needs one topic: the answer's id", http.StatusBadRequest)
		return
	}
	id := ids[0]
	from := r.Header.Get("Last-Event-ID")
	if from == "" {
		from = q.Get("from")
	}
	pos := uint64(math.MaxUint64) // from now on
	switch from {
	case "":
	case "earliest":
		pos = 0
	default:
		answer, p, ok := resumable.ParseEventID(from)
		if !ok || answer != id {
			http.Error(w, fmt.Sprintf("console: from=%q is not an event of answer %s", from, id), http.StatusBadRequest)
			return
		}
		pos = p
	}
	st, err := stream.New(w, r, &stream.Options{Retry: time.Second})
	if err != nil {
		return
	}
	ready := map[string]any{"selectors": ids, "from": from, "replayFound": true}
	if st.Send(sse.Event{Type: "ready", Data: jsonString(ready)}) != nil {
		return
	}
	for ev, err := range c.cfg.Streams.Events(r.Context(), id, pos) {
		if err != nil {
			st.CompleteWithError(fmt.Errorf("the tail ended: %v", err))
			return
		}
		t := tailed{ID: ev.ID, Type: ev.Type, Data: ev.Data, Topics: []string{id}, Time: time.Now().UnixMilli()}
		if len(t.Data) > c.cfg.MaxTailData {
			t.Data, t.Truncated = strings.ToValidUTF8(t.Data[:c.cfg.MaxTailData], ""), true
		}
		if st.Send(sse.Event{ID: ev.ID, Type: "update", Data: jsonString(t)}) != nil {
			return
		}
	}
	st.Complete()
}
