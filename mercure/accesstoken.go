package mercure

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/hub"
)

// AuthorizationDetailType is the type of the authorization details
// (RFC 9396) that grant Mercure actions in a draft-08 access token.
const AuthorizationDetailType = "https://mercure.rocks/authorization-detail"

// DefaultAccessTokenCookie is the cookie a draft-08 request presents its
// access token in, the name draft-08 §"Cookie" recommends.
const DefaultAccessTokenCookie = "__Secure-mercure_access_token"

// defaultAlgorithms is the allowlist of draft-08 access tokens when
// Config.JWTAlgorithms is empty: the asymmetric algorithms draft-08 asks
// for (EdDSA, ES256, RS256) and their siblings, and HMAC for issuers that
// share a secret with the hub. Which of them a token may use is narrowed
// further by the key of its issuer.
var defaultAlgorithms = []string{"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "HS256", "HS384", "HS512"}

// Issuer is a trusted issuer of draft-08 access tokens (an authorization
// server, or a publisher that signs its own tokens) and the keys its
// tokens are verified with. A token is verified with the keys of the
// issuer its iss claim names, and only those (draft-08 §"Token Validation").
type Issuer struct {
	// ID is the issuer identifier that the iss claim of its tokens
	// equals, byte for byte.
	ID string
	// PublisherKeys verify the tokens of publishers, SubscriberKeys those
	// of subscribers: each an HMAC secret (HS*), or a public key or
	// certificate in PEM (RSA for RS* and PS*, ECDSA P-256, P-384 or P-521
	// for ES256, ES384 or ES512, Ed25519 for EdDSA). With several keys
	// (during a rotation) each one whose type fits the token's algorithm
	// is tried. No key: this issuer's tokens are refused for that role.
	PublisherKeys  []string
	SubscriberKeys []string
	// AuthorizationServer lists ID in the authorization_servers of the
	// hub's protected resource metadata: an OAuth 2.0 authorization
	// server clients may obtain tokens from, rather than a self-issuing
	// publisher.
	AuthorizationServer bool
}

// role is who presents a token.
type role int

const (
	subscriber role = iota
	publisher
)

func (r role) String() string {
	if r == publisher {
		return "publisher"
	}
	return "subscriber"
}

// trustedKey is one verification key and the algorithms it verifies: the
// allowlist narrowed to the key's type, so that no token can pick an
// algorithm that reads the key as something else (HS256 with an RSA
// public key as the secret).
type trustedKey struct {
	key  any
	algs []string
}

// issuerKeys are the keys of one trusted issuer, by role.
type issuerKeys [2][]trustedKey

// accessTokens verifies draft-08 access tokens: RFC 9068 JWT access tokens
// whose authorization_details grant Mercure actions.
type accessTokens struct {
	issuers  map[string]issuerKeys
	audience string
	// maxDetails bounds the Mercure authorization details of a token, and
	// maxTopics the topic matchers of all of them together.
	maxDetails, maxTopics int
	maxMatcher            int // bytes of one topic matcher
	// cache remembers verified tokens (nil: none); now is the clock of
	// both the cache and the time claims (nil: time.Now).
	cache *tokenCache
	now   func() time.Time
}

func (at *accessTokens) clock() time.Time {
	if at.now != nil {
		return at.now()
	}
	return time.Now()
}

// newAccessTokens checks the issuers' keys against the algorithm allowlist.
// Verified tokens are remembered in cache, if not nil.
func newAccessTokens(issuers []Issuer, audience string, algs []string, maxTopics, maxMatcher int, cache *tokenCache) (*accessTokens, error) {
	if len(algs) == 0 {
		algs = defaultAlgorithms
	}
	for _, a := range algs {
		if !slices.Contains(defaultAlgorithms, a) {
			return nil, fmt.Errorf("mercure: JWT algorithm %q: want some of %s (never none)", a, strings.Join(defaultAlgorithms, ", "))
		}
	}
	at := &accessTokens{issuers: make(map[string]issuerKeys, len(issuers)), audience: audience,
		maxDetails: maxTopics, maxTopics: maxTopics, maxMatcher: maxMatcher, cache: cache}
	for _, iss := range issuers {
		if iss.ID == "" {
			return nil, errors.New("mercure: an Issuer has an empty ID")
		}
		if _, dup := at.issuers[iss.ID]; dup {
			return nil, fmt.Errorf("mercure: Issuer %q is configured twice", iss.ID)
		}
		var keys issuerKeys
		for r, materials := range [2][]string{subscriber: iss.SubscriberKeys, publisher: iss.PublisherKeys} {
			for i, m := range materials {
				k, err := parseTrustedKey(m, algs)
				if err != nil {
					return nil, fmt.Errorf("mercure: Issuer %q: %s key %d: %w", iss.ID, role(r), i+1, err)
				}
				keys[r] = append(keys[r], k)
			}
		}
		at.issuers[iss.ID] = keys
	}
	return at, nil
}

// parseTrustedKey reads a PEM public key or certificate, or else takes
// material as an HMAC secret, and keeps the allowed algorithms its type
// verifies.
func parseTrustedKey(material string, allowed []string) (trustedKey, error) {
	if material == "" {
		return trustedKey{}, errors.New("is empty")
	}
	var k trustedKey
	if block, _ := pem.Decode([]byte(material)); block != nil {
		var pub any
		switch block.Type {
		case "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return trustedKey{}, fmt.Errorf("certificate: %w", err)
			}
			pub = cert.PublicKey
		case "RSA PUBLIC KEY":
			rk, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return trustedKey{}, fmt.Errorf("RSA public key: %w", err)
			}
			pub = rk
		case "PUBLIC KEY":
			var err error
			if pub, err = x509.ParsePKIXPublicKey(block.Bytes); err != nil {
				return trustedKey{}, fmt.Errorf("public key: %w", err)
			}
		default:
			return trustedKey{}, fmt.Errorf("PEM block %q: want a PUBLIC KEY or a CERTIFICATE (never a private key)", block.Type)
		}
		k.key = pub
		switch p := pub.(type) {
		case *rsa.PublicKey:
			k.algs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
		case *ecdsa.PublicKey:
			switch p.Curve {
			case elliptic.P256():
				k.algs = []string{"ES256"}
			case elliptic.P384():
				k.algs = []string{"ES384"}
			case elliptic.P521():
				k.algs = []string{"ES512"}
			}
		case ed25519.PublicKey:
			k.algs = []string{"EdDSA"}
		}
	} else {
		k.key = []byte(material)
		k.algs = []string{"HS256", "HS384", "HS512"}
	}
	k.algs = slices.DeleteFunc(k.algs, func(a string) bool { return !slices.Contains(allowed, a) })
	if len(k.algs) == 0 {
		return trustedKey{}, fmt.Errorf("a %T verifies none of the allowed algorithms %s", k.key, strings.Join(allowed, ", "))
	}
	return k, nil
}

// claims08 is the payload of a draft-08 access token, as far as the hub
// reads it.
type claims08 struct {
	jwt.RegisteredClaims
	AuthorizationDetails json.RawMessage `json:"authorization_details"`
}

// errInvalidToken is wrapped by every reason a draft-08 token is refused:
// all of them are answered alike, 401 invalid_token.
var errInvalidToken = errors.New("invalid token")

func invalidToken(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvalidToken, fmt.Sprintf(format, args...))
}

// isAccessToken reports whether token's header says it is a JWT access
// token (typ at+jwt, RFC 9068 §2.1), without verifying anything: which
// draft a token belongs to decides how it is verified.
func isAccessToken(token string) bool {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	t, _, err := jwt.NewParser().ParseUnverified(head+".e30.", jwt.MapClaims{})
	if err != nil {
		return false
	}
	return typAccessToken(t.Header["typ"])
}

// typAccessToken reports whether a typ header value is at+jwt, with or
// without the application/ prefix and in any case (RFC 7515 §4.1.9).
func typAccessToken(v any) bool {
	typ, _ := v.(string)
	if len(typ) > len("application/") && strings.EqualFold(typ[:len("application/")], "application/") {
		typ = typ[len("application/"):]
	}
	return strings.EqualFold(typ, "at+jwt")
}

// verify checks token as an RFC 9068 access token presented by r and
// returns what its Mercure authorization details grant. URL patterns in
// the grants are resolved against base, the hub's URL. Every refusal wraps
// errInvalidToken.
func (at *accessTokens) verify(token string, r role, base string, m *hub.Matcher) (*access, error) {
	now := at.clock()
	key := newTokenKey('8', r, base, token)
	if a, ok := at.cache.get(key, now); ok {
		return a, nil
	}
	var pre claims08
	t, _, err := jwt.NewParser().ParseUnverified(token, &pre)
	if err != nil {
		return nil, invalidToken("%v", err)
	}
	if !typAccessToken(t.Header["typ"]) {
		return nil, invalidToken(`typ header is %q, want "at+jwt"`, t.Header["typ"])
	}
	// RFC 7515 §4.1.11: extensions named in crit must be understood, and
	// this hub understands none.
	if crit, ok := t.Header["crit"]; ok {
		return nil, invalidToken("critical header parameters %v are not understood", crit)
	}
	// The unverified iss only chooses among configured issuers: the keys
	// of the one it names, never a pool spanning issuers.
	keys, ok := at.issuers[pre.Issuer]
	if !ok {
		return nil, invalidToken("issuer %q is not trusted", pre.Issuer)
	}
	alg, _ := t.Header["alg"].(string)
	var c *claims08
	tried := false
	for _, k := range keys[r] {
		if !slices.Contains(k.algs, alg) {
			continue
		}
		tried = true
		c = &claims08{}
		_, err = jwt.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return k.key, nil },
			jwt.WithValidMethods(k.algs), jwt.WithExpirationRequired(), jwt.WithAudience(at.audience),
			jwt.WithIssuer(pre.Issuer), jwt.WithTimeFunc(func() time.Time { return now }))
		if !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			break // verified with this key: valid, or refused for its claims
		}
	}
	switch {
	case len(keys[r]) == 0:
		return nil, invalidToken("issuer %q has no %s key", pre.Issuer, r)
	case !tried:
		return nil, invalidToken("algorithm %q is not allowed for the %s keys of issuer %q", alg, r, pre.Issuer)
	case err != nil:
		return nil, invalidToken("%v", err)
	}
	// An explicit null decodes as an absent claim, which would turn
	// "exp": null into a token that never expires.
	if err := timeClaimsNotNull(token); err != nil {
		return nil, invalidToken("%v", err)
	}
	a, err := at.grants(c.AuthorizationDetails, base, m)
	if err != nil {
		return nil, invalidToken("authorization_details: %v", err)
	}
	a.expires = c.ExpiresAt.Time
	a.subject = c.Subject
	a.modern = true
	if c.NotBefore != nil {
		a.notBefore = c.NotBefore.Time
	}
	at.cache.put(key, a, now)
	// The cached grants are shared; callers get a copy to narrow.
	cp := *a
	return &cp, nil
}

// grants reads the Mercure authorization details of an
// authorization_details claim (draft-08 §"Authorization Details"). Details
// of other types are skipped; one malformed Mercure detail refuses the
// whole token, so that no part of a grant is acted on alone.
func (at *accessTokens) grants(raw json.RawMessage, base string, m *hub.Matcher) (*access, error) {
	a := &access{}
	if len(raw) == 0 || string(raw) == "null" {
		return a, nil
	}
	var details []json.RawMessage
	if err := json.Unmarshal(raw, &details); err != nil {
		return nil, fmt.Errorf("not an array: %w", err)
	}
	count, topics := 0, 0
	for i, d := range details {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(d, &fields); err != nil || fields == nil {
			return nil, fmt.Errorf("entry %d is not an object", i+1)
		}
		var typ string
		if err := json.Unmarshal(fields["type"], &typ); err != nil || typ != AuthorizationDetailType {
			continue // another API's detail: not ours to judge
		}
		if count++; count > at.maxDetails {
			return nil, fmt.Errorf("more than %d Mercure details", at.maxDetails)
		}
		g, err := at.detail(fields, base, m, &topics)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		if g.publish {
			a.publishTyped = append(a.publishTyped, g.topics...)
		}
		if g.subscribe {
			a.subscribeTyped = append(a.subscribeTyped, g.topics...)
			a.payloads = append(a.payloads, payloadGrant{topics: g.topics, payload: g.payload})
		}
	}
	return a, nil
}

// detailGrant is one Mercure authorization detail, validated.
type detailGrant struct {
	publish, subscribe bool
	topics             []hub.TypedSelector
	payload            json.RawMessage
}

// detail validates one Mercure authorization detail; *topics counts the
// topic matchers of the token so far.
func (at *accessTokens) detail(fields map[string]json.RawMessage, base string, m *hub.Matcher, topics *int) (detailGrant, error) {
	var g detailGrant
	var actions []json.RawMessage
	if err := json.Unmarshal(fields["actions"], &actions); err != nil || len(actions) == 0 {
		return g, errors.New(`"actions" must be a non-empty array of strings`)
	}
	for _, raw := range actions {
		var action string
		if err := json.Unmarshal(raw, &action); err != nil || raw[0] != '"' {
			return g, fmt.Errorf("action %s is not a string", raw)
		}
		// An action this hub does not know grants nothing, and does
		// not make the token invalid: a later specification may define it.
		switch action {
		case "publish":
			g.publish = true
		case "subscribe":
			g.subscribe = true
		}
	}
	var list []json.RawMessage
	if err := json.Unmarshal(fields["topics"], &list); err != nil || len(list) == 0 {
		return g, errors.New(`"topics" must be a non-empty array of topic matchers`)
	}
	if *topics += len(list); *topics > at.maxTopics {
		return g, fmt.Errorf("more than %d topic matchers in all", at.maxTopics)
	}
	for i, raw := range list {
		t, err := at.topicMatcher(raw, base, m)
		if err != nil {
			return g, fmt.Errorf("topic matcher %d: %w", i+1, err)
		}
		g.topics = append(g.topics, t)
	}
	if p, ok := fields["payload"]; ok && string(p) != "null" {
		if bytes.TrimSpace(p)[0] != '{' {
			return g, errors.New(`"payload" must be a JSON object`)
		}
		g.payload = p
	}
	return g, nil
}

// topicMatcher reads a topic matcher object (draft-08 §"Topic Matcher
// List"): {"match": "…", "match_type": "exact" | "urlpattern"}.
func (at *accessTokens) topicMatcher(raw json.RawMessage, base string, m *hub.Matcher) (hub.TypedSelector, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return hub.TypedSelector{}, errors.New("is not an object")
	}
	var t hub.TypedSelector
	if err := json.Unmarshal(fields["match"], &t.Raw); err != nil || fields["match"][0] != '"' {
		return t, errors.New(`"match" must be a string`)
	}
	if err := validMatcherValue(t.Raw); err != nil {
		return t, fmt.Errorf(`"match" %v`, err)
	}
	if len(t.Raw) > at.maxMatcher {
		return t, fmt.Errorf(`"match" is %d bytes, at most %d`, len(t.Raw), at.maxMatcher)
	}
	matchType := "exact"
	if mt, ok := fields["match_type"]; ok {
		if err := json.Unmarshal(mt, &matchType); err != nil || mt[0] != '"' {
			return t, errors.New(`"match_type" must be a string`)
		}
	}
	switch matchType {
	case "exact":
	case "urlpattern":
		t.Kind, t.Compile = "urlpattern "+base, urlPatternCompiler(base)
		if t.Raw != "*" {
			if _, err := m.Compile(t.Kind, t.Raw, t.Compile); err != nil {
				return t, err
			}
		}
	default:
		return t, fmt.Errorf("match_type %q is not supported (exact, urlpattern)", matchType)
	}
	return t, nil
}

// payloadGrant is the payload of a subscribe detail and the topics it is
// for.
type payloadGrant struct {
	topics  []hub.TypedSelector
	payload json.RawMessage
}

// private reports whether a may receive some private updates.
func (a *access) private() bool { return len(a.subscribe) > 0 || len(a.subscribeTyped) > 0 }

// mayPublish reports whether a grants publishing to topic.
func (a *access) mayPublish(m *hub.Matcher, topic string) bool {
	if !a.modern {
		return m.MatchAny(a.publish, []string{topic})
	}
	return matchesAny(m, a.publishTyped, topic)
}

// maySubscribe reports whether a grants receiving the private updates of
// one of topics.
func (a *access) maySubscribe(m *hub.Matcher, topics ...string) bool {
	if !a.modern {
		return m.MatchAny(a.subscribe, topics)
	}
	for _, t := range topics {
		if matchesAny(m, a.subscribeTyped, t) {
			return true
		}
	}
	return false
}

func matchesAny(m *hub.Matcher, sels []hub.TypedSelector, topic string) bool {
	for _, s := range sels {
		if m.MatchTyped(s, topic) {
			return true
		}
	}
	return false
}

// payloadFor returns the payload attached to the subscription req: a
// draft-07 token's mercure.payload, or the payload of the first subscribe
// detail of a draft-08 token one of whose topics matches one of the
// subscription's matchers, each read as if it were a topic (draft-08
// §"Payloads").
func (a *access) payloadFor(m *hub.Matcher, req *subscribeRequest) json.RawMessage {
	if !a.modern {
		return a.payload
	}
	for _, g := range a.payloads {
		for _, t := range req.typed {
			if matchesAny(m, g.topics, t.Raw) {
				return g.payload
			}
		}
		for _, sel := range req.selectors {
			if matchesAny(m, g.topics, sel) {
				return g.payload
			}
		}
	}
	return nil
}
