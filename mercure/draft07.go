package mercure

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
)

// protocol is what differs between versions of the Mercure protocol: how a
// subscribe or publish request is read, and what an access token grants.
type protocol interface {
	parseSubscribe(query url.Values, header http.Header, lim limits) (*subscribeRequest, error)
	parsePublish(form url.Values, lim limits) (*hub.Update, error)
	access(token string, v *verifier) (*access, error)
}

// limits bound what a request may carry.
type limits struct {
	maxTopics int
	maxData   int64
	maxID     int
	maxType   int
}

// subscribeRequest is a parsed subscription request.
type subscribeRequest struct {
	selectors   []string            // draft-07 topic selectors
	typed       []hub.TypedSelector // draft-08 topic matchers
	replay      bool                // a last event ID was given
	lastEventID string              // the one given; "earliest" replays everything
	// lastEventHeader names the response header that says after which
	// event the stream starts: draft-07 reuses Last-Event-ID, draft-08
	// defines Mercure-Last-Event-ID.
	lastEventHeader string
}

// access is what a verified token grants.
type access struct {
	publish   []string // selectors of topics the bearer may publish to; nil: none
	subscribe []string // selectors of private updates the bearer may receive
	payload   json.RawMessage
	expires   time.Time // zero: no exp claim
	notBefore time.Time // zero: no nbf claim
	subject   string    // the sub claim; publish rates are counted per subject
	// modern is set for a draft-08 access token, whose grants are the
	// typed topic matchers below instead of the selectors above.
	modern         bool
	publishTyped   []hub.TypedSelector
	subscribeTyped []hub.TypedSelector
	payloads       []payloadGrant // of the subscribe grants, in token order
}

// earliest is the reserved Last-Event-ID that asks for the whole history.
const earliest = "earliest"

// httpError is a refusal with its status and a message for the client.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) *httpError {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func tooLarge(field string, n, most int) *httpError {
	return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("%s is %d bytes, at most %d", field, n, most)}
}

// draft07 is draft-dunglas-mercure-07.
type draft07 struct{}

// parseSubscribe reads the topic selectors and the last event ID (the
// Last-Event-ID header wins over the lastEventID query parameter).
func (draft07) parseSubscribe(q url.Values, h http.Header, lim limits) (*subscribeRequest, error) {
	topics := q["topic"]
	switch {
	case len(topics) == 0:
		return nil, badRequest("missing topic parameter: give at least one topic selector")
	case len(topics) > lim.maxTopics:
		return nil, badRequest("too many topic parameters: %d, at most %d", len(topics), lim.maxTopics)
	}
	for _, t := range topics {
		if !utf8.ValidString(t) {
			return nil, badRequest("topic selector %q is not valid UTF-8", t)
		}
		if t == "" {
			return nil, badRequest("empty topic selector")
		}
	}
	req := &subscribeRequest{selectors: topics, lastEventHeader: "Last-Event-ID"}
	if v := h.Values("Last-Event-ID"); len(v) > 0 {
		req.replay, req.lastEventID = true, v[0]
	} else if v, ok := q["lastEventID"]; ok {
		req.replay, req.lastEventID = true, v[0]
	}
	if req.replay && !utf8.ValidString(req.lastEventID) {
		return nil, badRequest("last event ID is not valid UTF-8")
	}
	return req, nil
}

// parsePublish reads an update from a publish form.
func (draft07) parsePublish(f url.Values, lim limits) (*hub.Update, error) {
	for k, vs := range f {
		if !utf8.ValidString(k) {
			return nil, badRequest("form field name %q is not valid UTF-8", k)
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, badRequest("form field %q is not valid UTF-8", k)
			}
		}
		switch k {
		case "data", "id", "type", "retry":
			if len(vs) > 1 {
				return nil, badRequest("form field %q given %d times, at most once", k, len(vs))
			}
		}
	}
	u := &hub.Update{Topics: f["topic"], Data: f.Get("data"), ID: f.Get("id"), Type: f.Get("type")}
	switch {
	case len(u.Topics) == 0:
		return nil, badRequest("missing topic field: give at least one topic")
	case len(u.Topics) > lim.maxTopics:
		return nil, badRequest("too many topic fields: %d, at most %d", len(u.Topics), lim.maxTopics)
	}
	for _, t := range u.Topics {
		if t == "" {
			return nil, badRequest("empty topic")
		}
	}
	// Sizes over the limits are refused like data's, with 413: the update
	// is larger than this hub takes, not malformed. The message gives the
	// size, never the value.
	switch {
	case int64(len(u.Data)) > lim.maxData:
		return nil, tooLarge("data", len(u.Data), int(lim.maxData))
	case len(u.ID) > lim.maxID:
		return nil, tooLarge("id", len(u.ID), lim.maxID)
	case len(u.Type) > lim.maxType:
		return nil, tooLarge("type", len(u.Type), lim.maxType)
	}
	if strings.HasPrefix(u.ID, "#") {
		return nil, badRequest("id %q must not start with '#'", u.ID)
	}
	if strings.ContainsAny(u.ID, "\r\n\x00") {
		return nil, badRequest("id %q contains a line break or NUL", u.ID)
	}
	if strings.ContainsAny(u.Type, "\r\n") {
		return nil, badRequest("type %q contains a line break", u.Type)
	}
	if u.ID == earliest {
		return nil, badRequest("id %q is reserved", u.ID)
	}
	if r, ok := f["retry"]; ok {
		ms, err := strconv.ParseUint(r[0], 10, 32)
		if err != nil {
			return nil, badRequest("retry %q is not a number of milliseconds", r[0])
		}
		u.Retry = time.Duration(ms) * time.Millisecond
	}
	_, u.Private = f["private"]
	return u, nil
}

// claims07 is the payload of a draft-07 access token.
type claims07 struct {
	Mercure struct {
		Publish   []string        `json:"publish"`
		Subscribe []string        `json:"subscribe"`
		Payload   json.RawMessage `json:"payload,omitempty"`
	} `json:"mercure"`
	jwt.RegisteredClaims
}

// access verifies token with v and returns what its mercure claim grants.
func (draft07) access(token string, v *verifier) (*access, error) {
	var c claims07
	if err := v.verify(token, &c); err != nil {
		return nil, err
	}
	a := &access{publish: c.Mercure.Publish, subscribe: c.Mercure.Subscribe, payload: c.Mercure.Payload, subject: c.Subject}
	if c.ExpiresAt != nil {
		a.expires = c.ExpiresAt.Time
	}
	if c.NotBefore != nil {
		a.notBefore = c.NotBefore.Time
	}
	return a, nil
}
