package mercure

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ssehub/ssehub/hub"
)

// draft08 is draft-dunglas-mercure-08 (Mercure 1.0), served beside
// draft07 on the same endpoint and history. What differs from draft-07 is
// this type: the subscribe parameters (match, match_<type>, last_event_id),
// the response header that names the replay's anchor, and stricter publish
// rules. Tokens are still read as draft07 reads them (RFC 9068 access
// tokens are not implemented yet).
type draft08 struct {
	draft07
	// base is the hub's public URL, against which relative URL patterns
	// and topics are resolved; "" derives it from each request.
	base string
}

// Matcher types of draft-08 §"Matcher Types", by subscribe parameter.
const (
	matchExact      = "match"
	matchExactName  = "match_exact"
	matchURLPattern = "match_urlpattern"
)

// Names of the matcher types, as subscription events and the subscriptions
// API give them (draft-08 §"Matcher Types": canonical case).
const (
	typeExact      = "exact"
	typeURLPattern = "urlpattern"
)

// matchTypeOf returns the matcher type of a subscription's selector from
// its hub.SubscriptionInfo.Kinds entry: a draft-08 matcher type, or "" for
// a draft-07 selector.
func matchTypeOf(kind string) string {
	t, _, _ := strings.Cut(kind, " ")
	return t
}

// isMatchType reports whether name is a matcher type this hub supports.
func isMatchType(name string) bool { return name == typeExact || name == typeURLPattern }

// isDraft08Subscribe reports whether a subscribe request's parameters are
// draft-08's: a name in the reserved match namespace, or last_event_id.
func isDraft08Subscribe(q url.Values) bool {
	for k := range q {
		if k == "last_event_id" || len(k) >= 5 && strings.EqualFold(k[:5], "match") {
			return true
		}
	}
	return false
}

// validMatcherValue reports why a matcher value is refused (draft-08
// §"Subscription": valid UTF-8, no C0 or C1 control character, no U+007F,
// no format character), or nil.
func validMatcherValue(v string) error {
	if !utf8.ValidString(v) {
		return errors.New("is not valid UTF-8")
	}
	if err := noControl(v); err != nil {
		return err
	}
	if v == "" {
		return errors.New("is empty")
	}
	return nil
}

// parseSubscribe reads the topic matchers and the last event ID: the
// Last-Event-ID header wins over the last_event_id parameter.
func (d draft08) parseSubscribe(q url.Values, h http.Header, lim limits) (*subscribeRequest, error) {
	req := &subscribeRequest{lastEventHeader: "Mercure-Last-Event-ID"}
	for k, vs := range q {
		if k == "topic" {
			return nil, badRequest("topic is a draft-07 parameter: a draft-08 request (match…) selects topics with match or match_urlpattern only")
		}
		if len(k) < 5 || !strings.EqualFold(k[:5], "match") {
			continue
		}
		var compile hub.SelectorCompiler
		switch k {
		case matchExact, matchExactName:
		case matchURLPattern:
			compile = urlPatternCompiler(d.base)
		default:
			return nil, badRequest("%q is in the reserved match namespace but names no matcher type this hub supports (match, match_exact, match_urlpattern)", k)
		}
		for _, v := range vs {
			if err := validMatcherValue(v); err != nil {
				return nil, badRequest("%s value %d %v", k, len(req.typed)+1, err)
			}
			// The Kind starts with the matcher type's name, which
			// subscription events report (see matchTypeOf); a URL
			// pattern's also names the base it resolves against, so that
			// the Matcher caches one compilation per base.
			t := hub.TypedSelector{Raw: v, Compile: compile, Kind: typeExact}
			if compile != nil {
				t.Kind = typeURLPattern + " " + d.base
			}
			req.typed = append(req.typed, t)
		}
	}
	switch {
	case len(req.typed) == 0:
		return nil, badRequest("missing match parameter: give at least one topic matcher (match, match_urlpattern)")
	case len(req.typed) > lim.maxTopics:
		return nil, badRequest("too many topic matchers: %d, at most %d", len(req.typed), lim.maxTopics)
	}
	if v := h.Values("Last-Event-ID"); len(v) > 0 {
		req.replay, req.lastEventID = true, v[0]
	} else if v, ok := q["last_event_id"]; ok {
		req.replay, req.lastEventID = true, v[0]
	}
	if req.replay && !utf8.ValidString(req.lastEventID) {
		return nil, badRequest("last event ID is not valid UTF-8")
	}
	return req, nil
}

// parsePublish reads an update as draft-07 does, then applies draft-08's
// stricter rules (§"Publication"): no topic equal to "*" or inside the
// hub's own namespace, no control or format character in id or type, and
// type "mercure" reserved for the hub's own events.
func (d draft08) parsePublish(f url.Values, lim limits) (*hub.Update, error) {
	// Draft-08 answers every limit of a publish request with 413, the
	// number of topics included (draft-07 said nothing: 400 there).
	if n := len(f["topic"]); n > lim.maxTopics {
		return nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("too many topic fields: %d, at most %d", n, lim.maxTopics)}
	}
	u, err := d.draft07.parsePublish(f, lim)
	if err != nil {
		return nil, err
	}
	for i, t := range u.Topics {
		if err := noControl(t); err != nil {
			return nil, badRequest("topic %d %v", i+1, err)
		}
		if t == "*" {
			return nil, badRequest("topic %d is \"*\", reserved for the wildcard matcher", i+1)
		}
		if d.inHubNamespace(t) {
			return nil, badRequest("topic %d is in the hub's reserved namespace (%s…)", i+1, HubPath)
		}
	}
	if err := noControl(u.ID); err != nil {
		return nil, badRequest("id %v", err)
	}
	if err := noControl(u.Type); err != nil {
		return nil, badRequest("type %v", err)
	}
	if u.Type == "mercure" {
		return nil, badRequest("type \"mercure\" is reserved for the hub's own events")
	}
	return u, nil
}

// noControl reports a C0 or C1 control character, U+007F or a format
// character in v.
func noControl(v string) error {
	for i, r := range v {
		if r < 0x20 || r == 0x7f || 0x80 <= r && r <= 0x9f || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("holds the control or format character %U at byte %d", r, i)
		}
	}
	return nil
}

// inHubNamespace reports whether topic, resolved against the hub's URL,
// has the hub's path or a path below it, after removing dot segments and
// decoding percent-encoded octets (so that /.well-known/%6Dercure/x and
// /.well-known/mercure/../mercure/x are caught). A topic that is not a URL
// reference is outside the namespace.
func (d draft08) inHubNamespace(topic string) bool {
	base, err := url.Parse(d.base)
	if err != nil {
		return false
	}
	ref, err := url.Parse(topic)
	if err != nil {
		return false
	}
	p := base.ResolveReference(ref).Path
	hubPath := base.Path
	if hubPath == "" {
		hubPath = HubPath
	}
	return p == hubPath || strings.HasPrefix(p, hubPath+"/")
}
