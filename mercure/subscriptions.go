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

// jsonLDContext is the fixed @context of draft-07 subscription documents.
const jsonLDContext = "https://mercure.rocks/"

// eventTypeMercure is the SSE event type of the events the hub generates
// itself (draft-08 §"Subscription Events"); publishers may not use it.
const eventTypeMercure = "mercure"

// A subscription is described in the format of the draft it was made with:
// a draft-07 subscription (a topic selector) as a JSON-LD document under
// /subscriptions/{topic}/{subscriber}, a draft-08 one (a matcher and its
// type) as a JSON document under /subscriptions/{match_type}/{match}/{subscriber}.
// Each draft's API lists its own subscriptions, so that a client sees
// documents of one shape only, and the same ones as its subscription events.

// subscriptionDoc is the draft-07 JSON-LD document of one subscription.
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

// subscriptionsDoc is the draft-07 JSON-LD document of a collection.
type subscriptionsDoc struct {
	Context       string            `json:"@context"`
	ID            string            `json:"id"`
	Type          string            `json:"type"`
	LastEventID   string            `json:"lastEventID"`
	Subscriptions []subscriptionDoc `json:"subscriptions"`
}

// subscription08 is the draft-08 JSON document of one subscription.
type subscription08 struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	MatchType  string          `json:"match_type"`
	Match      string          `json:"match"`
	Subscriber string          `json:"subscriber"`
	Active     bool            `json:"active"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// subscriptions08 is the draft-08 JSON document of a collection. The
// cursor is on the Link header; last_event_id repeats it, as Mercure's
// OpenAPI description of the collection has it.
type subscriptions08 struct {
	ID            string           `json:"id"`
	Type          string           `json:"type"`
	LastEventID   string           `json:"last_event_id"`
	Subscriptions []subscription08 `json:"subscriptions"`
}

// escapeVar percent-encodes v as an RFC 6570 simple expansion does:
// everything but the unreserved characters, once ("%" included).
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

// subscriptionID is the topic and id of a draft-07 subscription's events.
func subscriptionID(topic, subscriber string) string {
	return SubscriptionsPath + "/" + escapeVar(topic) + "/" + escapeVar(subscriber)
}

// subscriptionID08 is the topic and id of a draft-08 subscription's
// events, under hubPath, the path of the hub's URL (draft-08
// §"Subscription Events").
func subscriptionID08(hubPath, matchType, match, subscriber string) string {
	return hubPath + "/subscriptions/" + matchType + "/" + escapeVar(match) + "/" + escapeVar(subscriber)
}

func docOf(info hub.SubscriptionInfo, topic string, active bool) subscriptionDoc {
	return subscriptionDoc{ID: subscriptionID(topic, info.ID), Type: "Subscription", Topic: topic,
		Subscriber: info.ID, Active: active, Payload: info.Payload}
}

func doc08Of(hubPath string, info hub.SubscriptionInfo, matchType, match string, active bool) subscription08 {
	return subscription08{ID: subscriptionID08(hubPath, matchType, match, info.ID), Type: "subscription", MatchType: matchType,
		Match: match, Subscriber: info.ID, Active: active, Payload: info.Payload}
}

// selectorsOf calls f with each selector of info and its draft-08 matcher
// type ("" for a draft-07 selector).
func selectorsOf(info hub.SubscriptionInfo, f func(raw, matchType string)) {
	for i, raw := range info.Selectors {
		mt := ""
		if i < len(info.Kinds) {
			mt = matchTypeOf(info.Kinds[i])
		}
		f(raw, mt)
	}
}

// subscriptionEvents publishes one private update per selector of the
// subscription, saying it became active or inactive, to the history of
// subscription events (never to the updates' history: a client that
// subscribes many times must not be able to push updates out of it). A
// draft-08 subscription's events carry the SSE event type "mercure".
func (s *Server) subscriptionEvents(ctx context.Context, info hub.SubscriptionInfo, active bool) {
	selectorsOf(info, func(raw, matchType string) {
		var (
			u   = &hub.Update{Private: true}
			doc any
			id  string
		)
		if matchType == "" {
			d := docOf(info, raw, active)
			d.Context = jsonLDContext
			doc, id = d, d.ID
		} else {
			d := doc08Of(s.hubPath, info, matchType, raw, active)
			doc, id, u.Type = d, d.ID, eventTypeMercure
		}
		data, err := json.Marshal(doc)
		if err != nil {
			return
		}
		u.Topics, u.Data = []string{id}, string(data)
		if err := s.events.Publish(ctx, u); err != nil {
			s.log.Warn("mercure: publishing a subscription event failed", "topic", id, "err", err)
		}
	})
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
	rest, _ := s.subscriptionsRest(r.URL.EscapedPath())
	var parts []string
	if rest != "" {
		parts = strings.Split(strings.TrimPrefix(rest, "/"), "/")
	}
	if len(parts) > 3 {
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
	draft := s.subscriptionsDraft(r, parts, acc.modern)
	switch {
	case draft == "07" && len(parts) > 2, draft == "08" && len(parts) == 1:
		http.NotFound(w, r)
		return
	case draft == "08" && len(parts) > 0 && !isMatchType(parts[0]):
		httpErrorf(w, http.StatusBadRequest, "%q names no matcher type this hub supports (exact, urlpattern)", parts[0])
		return
	}
	// The topic to authorize is the resource's path as the client names
	// it, the same as its subscription events' topic: under the path of
	// the hub's URL for draft-08, whether or not a proxy stripped a prefix
	// on the way here; under HubPath for draft-07, whose topics are fixed.
	path := SubscriptionsPath + rest
	if draft == "08" {
		path = s.hubPath + "/subscriptions" + rest
	}
	if !acc.maySubscribe(s.hub.Matcher(), path, s.hubOrigin(r)+path) {
		s.refuse(w, insufficientScope("the token does not grant subscribe on %s", path))
		return
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
	h := w.Header()
	if s.cfg.Draft == "" && len(parts) == 0 {
		h.Add("Vary", "Accept") // which draft's collection, see subscriptionsDraft
	}
	h.Set("Cache-Control", "must-revalidate")
	h.Set("ETag", `"`+etagValue(last)+`"`)
	if draft == "08" {
		s.subscriptions08(w, r, path, parts, last)
		return
	}
	var docs []subscriptionDoc
	for _, info := range s.hub.Subscriptions() {
		selectorsOf(info, func(topic, matchType string) {
			if matchType != "" || len(parts) >= 1 && topic != parts[0] || len(parts) == 2 && info.ID != parts[1] {
				return
			}
			docs = append(docs, docOf(info, topic, true))
		})
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
	h.Set("Content-Type", "application/ld+json")
	h.Set("Link", `<`+HubPath+`>; rel="mercure"; last-event-id="`+linkQuote(last)+`"`)
	json.NewEncoder(w).Encode(body)
}

// subscriptions08 answers a draft-08 request of the subscriptions API
// (§"Subscription API"): plain JSON, and the cursor to subscribe to
// subscription events from on the rel="mercure" Link header.
func (s *Server) subscriptions08(w http.ResponseWriter, r *http.Request, path string, parts []string, last string) {
	var docs []subscription08
	for _, info := range s.hub.Subscriptions() {
		selectorsOf(info, func(match, matchType string) {
			if matchType == "" || len(parts) >= 2 && (matchType != parts[0] || match != parts[1]) || len(parts) == 3 && info.ID != parts[2] {
				return
			}
			docs = append(docs, doc08Of(s.hubPath, info, matchType, match, true))
		})
	}
	slices.SortFunc(docs, func(a, b subscription08) int { return strings.Compare(a.ID, b.ID) })
	var body any
	if len(parts) == 3 {
		if len(docs) == 0 {
			http.NotFound(w, r)
			return
		}
		body = docs[0]
	} else {
		if docs == nil {
			docs = []subscription08{}
		}
		body = subscriptions08{ID: path, Type: "subscriptions", LastEventID: last, Subscriptions: docs}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Link", `<`+s.hubURL(r)+`>; rel="mercure"; last-event-id="`+linkQuote(last)+`"; type="`+eventTypeMercure+`"; content-type="application/json"`)
	json.NewEncoder(w).Encode(body)
}

// subscriptionsDraft returns the draft ("07" or "08") a request of the
// subscriptions API belongs to: the hub's when it serves one only, else
// the path's shape (draft-08's /{match_type}/{match}[/{subscriber}] names
// a matcher type first, draft-07's /{topic}[/{subscriber}] a topic), and
// for the collection of all subscriptions, which both share, the token
// (a draft-08 access token is draft-08's) or the media type asked for
// (application/json alone is draft-08's, application/ld+json draft-07's).
func (s *Server) subscriptionsDraft(r *http.Request, parts []string, token08 bool) string {
	switch {
	case s.cfg.Draft != "":
		return s.cfg.Draft
	case len(parts) == 3, len(parts) == 2 && isMatchType(parts[0]):
		return "08"
	case len(parts) == 0 && acceptsJSONOnly(r.Header.Values("Accept")):
		return "08"
	case len(parts) == 0 && token08:
		if q, ld := acceptQuality(r.Header.Values("Accept"), "application/ld+json"); ld && q > 0 {
			return "07"
		}
		return "08"
	}
	return "07"
}

// etagValue makes id the content of an entity-tag (RFC 9110 §8.8.3):
// bytes an etagc may not hold, and "%" so that the mapping stays
// one-to-one, are percent-encoded.
func etagValue(id string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c == '"' || c == '%' || c == 0x7f {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// linkQuote escapes v for a quoted-string of a Link field (RFC 9110
// §5.6.4). Ids hold no control character (they are refused at publication).
func linkQuote(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v)
}
