package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/sse"
	"github.com/ssehub/ssehub/stream"
)

// Limits of the operator's requests.
const (
	// maxTailSelectors bounds the selectors of one tail.
	maxTailSelectors = 20
	// defaultListLimit and maxListLimit bound the rows of the
	// subscriptions list.
	defaultListLimit = 200
	maxListLimit     = 5000
	// publishTokenTTL is the lifetime of the token the console signs for
	// one publication.
	publishTokenTTL = time.Minute
)

// events streams the hello event, then a sample every Interval.
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	hello, samples, cancel := c.smp.subscribe(c.signer != nil)
	defer cancel()
	st, err := stream.New(w, r, &stream.Options{Retry: 2 * time.Second})
	if err != nil {
		return
	}
	if err := st.SendJSON(hello); err != nil {
		return
	}
	for {
		select {
		case <-st.Done():
			return
		case ev := <-samples:
			if err := st.SendEncoded(ev); err != nil {
				return
			}
		}
	}
}

// subscriptionRow is one subscription of this node in the console's list.
type subscriptionRow struct {
	ID        string          `json:"id"`
	Selectors []string        `json:"selectors"`
	Payload   json.RawMessage `json:"payload,omitempty"`
}

// topicRow is one selector and how many subscriptions use it.
type topicRow struct {
	Selector    string `json:"selector"`
	Subscribers int    `json:"subscribers"`
}

// subscriptionList is the answer of the subscriptions API.
type subscriptionList struct {
	Node          string            `json:"node"`
	Total         int               `json:"total"`
	Matching      int               `json:"matching"`
	Subscriptions []subscriptionRow `json:"subscriptions"`
	Topics        []topicRow        `json:"topics"`
}

// subscriptions lists this node's subscriptions and their selectors whose
// id, selectors or payload contain q (case-insensitive), at most limit of
// each.
func (c *Console) subscriptions(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	limit := defaultListLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			http.Error(w, fmt.Sprintf("console: limit %q: want a number from 1 to %d", v, maxListLimit), http.StatusBadRequest)
			return
		}
		limit = n
	}
	all := c.cfg.Hub.Subscriptions()
	out := subscriptionList{Node: c.cfg.NodeID, Total: len(all), Subscriptions: []subscriptionRow{}, Topics: []topicRow{}}
	topics := map[string]int{}
	for _, info := range all {
		row := subscriptionRow{ID: info.ID, Selectors: info.Selectors, Payload: info.Payload}
		if q != "" && !strings.Contains(strings.ToLower(row.ID+"\x00"+strings.Join(row.Selectors, "\x00")+"\x00"+string(row.Payload)), q) {
			continue
		}
		out.Matching++
		out.Subscriptions = append(out.Subscriptions, row)
		for _, s := range info.Selectors {
			topics[s]++
		}
	}
	slices.SortFunc(out.Subscriptions, func(a, b subscriptionRow) int { return strings.Compare(a.ID, b.ID) })
	out.Subscriptions = out.Subscriptions[:min(limit, len(out.Subscriptions))]
	for s, n := range topics {
		out.Topics = append(out.Topics, topicRow{Selector: s, Subscribers: n})
	}
	slices.SortFunc(out.Topics, func(a, b topicRow) int {
		if a.Subscribers != b.Subscribers {
			return b.Subscribers - a.Subscribers
		}
		return strings.Compare(a.Selector, b.Selector)
	})
	out.Topics = out.Topics[:min(limit, len(out.Topics))]
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// tailed is one update as the tail shows it.
type tailed struct {
	ID        string   `json:"id"`
	Type      string   `json:"type,omitempty"`
	Data      string   `json:"data"`
	Truncated bool     `json:"truncated,omitempty"` // Data is cut to MaxTailData bytes
	Topics    []string `json:"topics"`
	Private   bool     `json:"private"`
	Time      int64    `json:"time"` // publication, Unix milliseconds
}

// tail streams the updates matching the request's topic selectors,
// private ones included, each as an "update" event whose id is the
// update's: a browser that reconnects resumes after the last one it got.
// from=<id> (or the Last-Event-ID header) replays what followed that
// update, from=earliest the whole history. hub=streams tails one
// resumable answer instead (see tailAnswer).
func (c *Console) tail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	h := c.cfg.Hub
	switch q.Get("hub") {
	case "":
	case "streams":
		if c.cfg.Streams == nil {
			http.Error(w, "console: this hub serves no resumable streams", http.StatusNotFound)
			return
		}
		c.tailAnswer(w, r)
		return
	default:
		http.Error(w, fmt.Sprintf("console: hub=%q: want streams, or nothing for the hub's updates", q.Get("hub")), http.StatusBadRequest)
		return
	}
	sels := q["topic"]
	switch {
	case len(sels) == 0:
		http.Error(w, "console: tail needs at least one topic selector (topic=…; * for every topic)", http.StatusBadRequest)
		return
	case len(sels) > maxTailSelectors:
		http.Error(w, fmt.Sprintf("console: tail takes at most %d topic selectors, not %d", maxTailSelectors, len(sels)), http.StatusBadRequest)
		return
	}
	for _, s := range sels {
		if s == "" {
			http.Error(w, "console: empty topic selector", http.StatusBadRequest)
			return
		}
	}
	req := hub.SubscribeRequest{Selectors: sels, Private: []string{"*"}, Payload: json.RawMessage(`{"ssehub":"console tail"}`)}
	from := r.Header.Get("Last-Event-ID")
	if from == "" {
		from = q.Get("from")
	}
	if from != "" {
		req.Replay = &hub.Replay{AfterID: from, Earliest: from == "earliest"}
	}
	sub, err := h.Subscribe(r.Context(), req)
	switch {
	case errors.Is(err, hub.ErrUnavailable), errors.Is(err, hub.ErrClosed):
		w.Header().Set("Retry-After", "1")
		http.Error(w, "console: the hub cannot subscribe now: "+err.Error(), http.StatusServiceUnavailable)
		return
	case err != nil:
		http.Error(w, "console: subscribe: "+err.Error(), http.StatusBadRequest)
		return
	}
	defer sub.Close()
	st, err := stream.New(w, r, &stream.Options{Retry: time.Second})
	if err != nil {
		return
	}
	ready := map[string]any{"selectors": sels, "from": from, "replayFound": from == "" || from == "earliest" || sub.ReplayFound()}
	if err := st.Send(sse.Event{Type: "ready", Data: jsonString(ready)}); err != nil {
		return
	}
	var buf []*hub.Message
	for {
		buf, err = sub.Receive(st.Context(), buf[:0])
		for _, m := range buf {
			u := m.Update
			t := tailed{ID: u.ID, Type: u.Type, Data: u.Data, Topics: u.Topics, Private: u.Private, Time: u.Time.UnixMilli()}
			if len(t.Data) > c.cfg.MaxTailData {
				t.Data, t.Truncated = strings.ToValidUTF8(t.Data[:c.cfg.MaxTailData], ""), true
			}
			if err := st.Send(sse.Event{ID: u.ID, Type: "update", Data: jsonString(t)}); err != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, hub.ErrSlowConsumer) || errors.Is(err, hub.ErrUnavailable) {
				st.CompleteWithError(fmt.Errorf("the tail ended: %v", err))
			}
			return
		}
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v) // the console's own types always encode
	return string(b)
}

// publish hands the form to the hub's own publish endpoint with a
// publisher token signed for this one request, and answers with the hub's
// answer: its status and body (the update's id, or why it was refused).
func (c *Console) publish(w http.ResponseWriter, r *http.Request) {
	if c.signer == nil {
		http.Error(w, "console: publishing from the console needs the hub's publisher key to be an HMAC secret (HS256/384/512)", http.StatusNotImplemented)
		return
	}
	tok, err := jwt.NewWithClaims(c.signer, jwt.MapClaims{
		"mercure": map[string]any{"publish": []string{"*"}},
		"exp":     time.Now().Add(publishTokenTTL).Unix(),
	}).SignedString([]byte(c.cfg.PublisherJWTKey))
	if err != nil {
		http.Error(w, "console: signing the publisher token: "+err.Error(), http.StatusInternalServerError)
		return
	}
	pr, err := http.NewRequestWithContext(r.Context(), http.MethodPost, c.cfg.PublishPath, r.Body)
	if err != nil {
		http.Error(w, "console: "+err.Error(), http.StatusInternalServerError)
		return
	}
	pr.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	pr.Header.Set("Authorization", "Bearer "+tok)
	pr.RemoteAddr = r.RemoteAddr
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	c.cfg.Publisher.ServeHTTP(rec, pr)
	c.log.Info("console: published", "status", rec.status, "remote", r.RemoteAddr)
	for _, k := range []string{"Content-Type", "Retry-After"} {
		if v := rec.header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(rec.status)
	w.Write(rec.body.Bytes())
}

// recorder keeps the hub's answer to a publication, so that none of the
// hub's headers (such as CORS headers) reach the operator unfiltered.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
