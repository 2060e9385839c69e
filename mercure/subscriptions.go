package mercure

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ssehub/ssehub/hub"
)

// jsonLDContext is the fixed @context of subscription documents.
const jsonLDContext = "https://mercure.rocks/"

// subscriptionDoc is the JSON-LD document of one subscription.
type subscriptionDoc struct {
	Context     string          `json:"@context,omitempty"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Topic       string          `json:"topic"`
	Subscriber  string          `json:"subscriber"`
	Active      bool            `json:"active"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	LastEventID string          `json:"lastEventID,omitempty"`
}

// subscriptionsDoc is the JSON-LD document of a collection.
type subscriptionsDoc struct {
	Context       string            `json:"@context"`
	ID            string            `json:"id"`
	Type          string            `json:"type"`
	LastEventID   string            `json:"lastEventID"`
	Subscriptions []subscriptionDoc `json:"subscriptions"`
}

// escapeVar percent-encodes v as an RFC 6570 simple expansion does:
// everything but the unreserved characters.
func escapeVar(v string) string {
	var b strings.Builder
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// subscriptionID is the topic and id of a subscription's events.
func subscriptionID(topic, subscriber string) string {
	return SubscriptionsPath + "/" + escapeVar(topic) + "/" + escapeVar(subscriber)
}

func docOf(info hub.SubscriptionInfo, topic string, active bool) subscriptionDoc {
	return subscriptionDoc{ID: subscriptionID(topic, info.ID), Type: "Subscription", Topic: topic,
		Subscriber: info.ID, Active: active, Payload: info.Payload}
}

// subscriptionEvents publishes one private update per selector of the
// subscription, saying it became active or inactive, to the history of
// subscription events (never to the updates' history: a client that
// subscribes many times must not be able to push updates out of it).
func (s *Server) subscriptionEvents(ctx context.Context, info hub.SubscriptionInfo, active bool) {
	for _, topic := range info.Selectors {
		doc := docOf(info, topic, active)
		doc.Context = jsonLDContext
		data, err := json.Marshal(doc)
		if err != nil {
			continue
		}
		u := &hub.Update{Topics: []string{doc.ID}, Data: string(data), Private: true}
		if err := s.events.Publish(ctx, u); err != nil {
			s.log.Warn("mercure: publishing a subscription event failed", "topic", doc.ID, "err", err)
		}
	}
}

// subscriptions serves the subscriptions API.
func (s *Server) subscriptions(w http.ResponseWriter, r *http.Request) {
	q, _ := url.ParseQuery(r.URL.RawQuery)
	acc, _, aerr := s.authenticate(r, q, subscriber, false)
	if aerr == nil && acc == nil {
		aerr = challenge("a subscriber token is required for the subscriptions API")
	}
	if aerr != nil {
		s.refuse(w, aerr)
		return
	}
	path := r.URL.EscapedPath()
	if !acc.maySubscribe(s.hub.Matcher(), path, s.hubOrigin(r)+path) {
		s.refuse(w, insufficientScope("the token does not grant subscribe on %s", path))
		return
	}
	var parts []string
	if rest := strings.TrimPrefix(path, SubscriptionsPath); rest != "" {
		parts = strings.Split(strings.TrimPrefix(rest, "/"), "/")
	}
	if len(parts) > 2 {
		http.NotFound(w, r)
		return
	}
	for i, p := range parts {
		var err error
		if parts[i], err = url.PathUnescape(p); err != nil {
			httpErrorf(w, http.StatusBadRequest, "path segment %q does not unescape: %v", p, err)
			return
		}
	}
	// The id to resume subscription events from without a gap.
	last, err := s.events.LastEventID(r.Context())
	if err != nil {
		httpErrorf(w, http.StatusInternalServerError, "reading history: %v", err)
		return
	}
	if last == "" {
		last = earliest
	}
	var docs []subscriptionDoc
	for _, info := range s.hub.Subscriptions() {
		for _, topic := range info.Selectors {
			if len(parts) >= 1 && topic != parts[0] || len(parts) == 2 && info.ID != parts[1] {
				continue
			}
			docs = append(docs, docOf(info, topic, true))
		}
	}
	slices.SortFunc(docs, func(a, b subscriptionDoc) int { return strings.Compare(a.ID, b.ID) })
	var body any
	if len(parts) == 2 {
		if len(docs) == 0 {
			http.NotFound(w, r)
			return
		}
		d := docs[0]
		d.Context, d.LastEventID = jsonLDContext, last
		body = d
	} else {
		if docs == nil {
			docs = []subscriptionDoc{}
		}
		body = subscriptionsDoc{Context: jsonLDContext, ID: path, Type: "Subscriptions", LastEventID: last, Subscriptions: docs}
	}
	h := w.Header()
	h.Set("Content-Type", "application/ld+json")
	h.Set("Link", `<`+HubPath+`>; rel="mercure"`)
	h.Set("Cache-Control", "must-revalidate")
	h.Set("ETag", `"`+last+`"`)
	json.NewEncoder(w).Encode(body)
}
