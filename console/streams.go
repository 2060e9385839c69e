package console

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// StreamSource is where resumable streams keep their events: a hub of their
// own whose topics are a prefix and the stream's id (resumable.Streams is
// one). The console lists the streams from its history and tails them.
type StreamSource interface {
	Hub() *hub.Hub
	TopicPrefix() string
}

// Bounds of the streams list.
const (
	// maxStreamEvents is how many of the newest events the list reads.
	maxStreamEvents = 10000
	maxStreams      = 200
	streamsTimeout  = 5 * time.Second
	// endSuffix ends the id of a resumable stream's terminal event.
	endSuffix = ":end"
)

// streamRow is one resumable stream in the console's list.
type streamRow struct {
	ID      string `json:"id"`
	Topic   string `json:"topic"`
	Events  int    `json:"events"`
	Bytes   int    `json:"bytes"`
	Closed  bool   `json:"closed"`
	End     string `json:"end,omitempty"` // the terminal event's type: done or error
	Readers int    `json:"readers"`       // followers on this node
	First   int64  `json:"first"`         // Unix milliseconds
	Last    int64  `json:"last"`
}

// streamList is the answer of the streams API.
type streamList struct {
	Streams []streamRow `json:"streams"`
	// Scanned is how many of the newest events were read; Partial says
	// older ones were left out.
	Scanned int  `json:"scanned"`
	Partial bool `json:"partial"`
}

// streams lists the resumable streams found in the newest events of the
// streams' hub: open or closed, events, bytes and readers on this node.
func (c *Console) streams(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Streams == nil {
		http.Error(w, "console: this hub serves no resumable streams", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), streamsTimeout)
	defer cancel()
	list, err := listStreams(ctx, c.cfg.Streams)
	if err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "console: reading the streams: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(list)
}

func listStreams(ctx context.Context, src StreamSource) (streamList, error) {
	h, prefix := src.Hub(), src.TopicPrefix()
	st := h.Store()
	out := streamList{Streams: []streamRow{}}
	last, err := st.Last(ctx)
	if err != nil || last == nil {
		return out, err
	}
	// Seq need not be contiguous: starting this far back reads at most
	// maxStreamEvents, possibly fewer.
	after := last.Seq - min(last.Seq, maxStreamEvents)
	out.Partial = after > 0
	rows := map[string]*streamRow{}
	for out.Scanned < maxStreamEvents {
		page, err := st.Read(ctx, after, min(1000, maxStreamEvents-out.Scanned))
		if err != nil {
			return out, err
		}
		if len(page) == 0 {
			break
		}
		for _, u := range page {
			after = u.Seq
			out.Scanned++
			for _, t := range u.Topics {
				id, ok := strings.CutPrefix(t, prefix)
				if !ok || id == "control" {
					continue
				}
				row := rows[t]
				if row == nil {
					row = &streamRow{ID: id, Topic: t, First: u.Time.UnixMilli()}
					rows[t] = row
				}
				row.Events++
				row.Bytes += len(u.Data)
				row.Last = u.Time.UnixMilli()
				if strings.HasSuffix(u.ID, endSuffix) {
					row.Closed, row.End = true, u.Type
				}
			}
		}
	}
	for _, info := range h.Subscriptions() {
		for _, s := range info.Selectors {
			if row := rows[s]; row != nil {
				row.Readers++
			}
		}
	}
	for _, row := range rows {
		out.Streams = append(out.Streams, *row)
	}
	slices.SortFunc(out.Streams, func(a, b streamRow) int {
		if a.Last != b.Last {
			return int(b.Last - a.Last)
		}
		return strings.Compare(a.ID, b.ID)
	})
	out.Streams = out.Streams[:min(maxStreams, len(out.Streams))]
	return out, nil
}
