package mercure_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/mercure/mercuretest"
	"github.com/ssehub/ssehub/sse"
)

// Tests of draft-dunglas-mercure-08 §"Authorization" and the sections it
// refers to; each test names its section.

// localAudience is the audience tokens are minted for: a hub reached as
// https://localhost, whatever address it listens on (here 127.0.0.1 and a
// random port).
const localAudience = "https://localhost/.well-known/mercure"

const (
	pubKey08 = mercuretest.PublisherKey
	subKey08 = mercuretest.SubscriberKey
	issuer   = mercuretest.Issuer08
)

// metadataURL is where the hub's Bearer challenges point.
const metadataURL = "https://localhost/.well-known/oauth-protected-resource/.well-known/mercure"

// hub08 is a hub trusting issuer for localAudience, behind a real server.
type hub08 struct {
	t   *testing.T
	s   *mercure.Server
	srv *httptest.Server
}

func newHub08(t *testing.T, mod func(*mercure.Config)) *hub08 {
	t.Helper()
	cfg := mercure.Config{
		PublisherJWTKey: pubKey08, SubscriberJWTKey: subKey08, Audience: localAudience,
		Issuers: []mercure.Issuer{{ID: issuer, PublisherKeys: []string{pubKey08}, SubscriberKeys: []string{subKey08}}},
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := mercure.New(cfg)
	if err != nil {
		t.Fatalf("mercure.New: %v", err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { s.Close(); srv.CloseClientConnections(); srv.Close() })
	return &hub08{t, s, srv}
}

type answer struct {
	status int
	header http.Header
	body   string
}

// challenge returns the WWW-Authenticate of the answer.
func (a answer) challenge() string { return a.header.Get("WWW-Authenticate") }

func (h *hub08) do(req *http.Request) answer {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mercuretest.Timeout)
	defer cancel()
	res, err := h.srv.Client().Do(req.WithContext(ctx))
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	var b []byte
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		b, _ = io.ReadAll(res.Body)
	}
	return answer{res.StatusCode, res.Header, string(b)}
}

// publish posts form with the given headers.
func (h *hub08) publish(form url.Values, header http.Header) answer {
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+mercure.HubPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return h.do(req)
}

// subscribe opens a stream and closes it once its headers arrived.
func (h *hub08) subscribe(query string, header http.Header) answer {
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+mercure.HubPath+"?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	return h.do(req)
}

func auth(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func grant(actions []string, topics ...string) mercuretest.Grant {
	return mercuretest.Grant{Actions: actions, Topics: topics}
}

var (
	pub  = []string{"publish"}
	subs = []string{"subscribe"}
)

// pubTok is a valid draft-08 publisher token granting topics.
func pubTok(t *testing.T, topics ...string) string {
	return mercuretest.AccessToken(t, pubKey08, localAudience, nil, grant(pub, topics...))
}

// sign signs claims with key and method under header fields hdr (typ
// at+jwt unless hdr says otherwise).
func sign(t *testing.T, method jwt.SigningMethod, key any, hdr map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["typ"] = "at+jwt"
	for k, v := range hdr {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims08 are valid draft-08 claims granting publish everywhere.
func claims08() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": issuer, "aud": localAudience, "sub": "s", "client_id": "c", "iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(), "jti": "j", "authorization_details": []any{grant(pub, "*").Detail()}}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	if v == nil {
		delete(c, k)
	} else {
		c[k] = v
	}
	return c
}

func pemOf(t *testing.T, pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

var topicForm = url.Values{"topic": {"https://example.com/books/1"}, "data": {"d"}}

// TestDraft08_Authorization_TokenValidation: §"Token Validation": an RFC
// 9068 access token (typ at+jwt), an algorithm on the allowlist and fit
// for the key, keys chosen by the token's iss among the configured
// issuers', aud containing the hub's identifier, exp required, nbf
// honoured, crit refused. Every failure is 401 invalid_token.
func TestDraft08_Authorization_TokenValidation(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	rsaPEM, ecPEM, edPEM := pemOf(t, &rsaKey.PublicKey), pemOf(t, &ecKey.PublicKey), pemOf(t, edPub)
	hs := func(hdr map[string]any, c jwt.MapClaims) string {
		return sign(t, jwt.SigningMethodHS256, []byte(pubKey08), hdr, c)
	}
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, claims08())
	now := time.Now()
	cases := []struct {
		name  string
		token string
		want  int
	}{
		{"AValidAccessTokenIsAccepted", hs(nil, claims08()), http.StatusOK},
		{"TypApplicationAtJWTIsAccepted", hs(map[string]any{"typ": "application/at+jwt"}, claims08()), http.StatusOK},
		{"TypIsComparedCaseInsensitively", hs(map[string]any{"typ": "AT+JWT"}, claims08()), http.StatusOK},
		{"TypJWTIsRefused", hs(map[string]any{"typ": "JWT"}, claims08()), http.StatusUnauthorized},
		{"AMissingTypIsRefused", hs(map[string]any{"typ": nil}, claims08()), http.StatusUnauthorized},
		{"AlgNoneIsRefused", none, http.StatusUnauthorized},
		{"AnAlgorithmNotOnTheAllowlistIsRefused", sign(t, jwt.SigningMethodHS384, []byte(pubKey08), nil, claims08()), http.StatusUnauthorized},
		{"HS256KeyedWithAnRSAPublicKeyIsRefused", sign(t, jwt.SigningMethodHS256, []byte(rsaPEM), nil, with(claims08(), "iss", "https://rsa.example.com")), http.StatusUnauthorized},
		{"RS256IsAccepted", sign(t, jwt.SigningMethodRS256, rsaKey, nil, with(claims08(), "iss", "https://rsa.example.com")), http.StatusOK},
		{"PS256IsAccepted", sign(t, jwt.SigningMethodPS256, rsaKey, nil, with(claims08(), "iss", "https://rsa.example.com")), http.StatusOK},
		{"ES256IsAccepted", sign(t, jwt.SigningMethodES256, ecKey, nil, with(claims08(), "iss", "https://ec.example.com")), http.StatusOK},
		{"EdDSAIsAccepted", sign(t, jwt.SigningMethodEdDSA, edKey, nil, with(claims08(), "iss", "https://ed.example.com")), http.StatusOK},
		{"AnyOfAnIssuersKeysVerifies", hs(nil, claims08()), http.StatusOK},
		{"AnUntrustedIssuerIsRefused", hs(nil, with(claims08(), "iss", "https://evil.example.com")), http.StatusUnauthorized},
		{"AMissingIssIsRefused", hs(nil, with(claims08(), "iss", nil)), http.StatusUnauthorized},
		{"AnotherIssuersKeyDoesNotVerify", hs(nil, with(claims08(), "iss", "https://other.example.com")), http.StatusUnauthorized},
		{"AnotherIssuersNameDoesNotLendItsKeys", sign(t, jwt.SigningMethodHS256, []byte("other-issuer-secret-of-32-bytes-long"), nil, claims08()), http.StatusUnauthorized},
		{"AnAudienceArrayContainingTheHubIsAccepted", hs(nil, with(claims08(), "aud", []string{"https://elsewhere", localAudience})), http.StatusOK},
		{"AnotherAudienceIsRefused", hs(nil, with(claims08(), "aud", "https://other-hub.example.com/.well-known/mercure")), http.StatusUnauthorized},
		{"AMissingAudienceIsRefused", hs(nil, with(claims08(), "aud", nil)), http.StatusUnauthorized},
		{"AMissingExpIsRefused", hs(nil, with(claims08(), "exp", nil)), http.StatusUnauthorized},
		{"ANullExpIsRefused", hs(nil, with(claims08(), "exp", json.RawMessage("null"))), http.StatusUnauthorized},
		{"AnExpiredTokenIsRefused", hs(nil, with(claims08(), "exp", now.Add(-time.Second).Unix())), http.StatusUnauthorized},
		{"NbfInTheFutureIsRefused", hs(nil, with(claims08(), "nbf", now.Add(time.Minute).Unix())), http.StatusUnauthorized},
		{"NbfInThePastIsAccepted", hs(nil, with(claims08(), "nbf", now.Add(-time.Minute).Unix())), http.StatusOK},
		{"CritIsRefused", hs(map[string]any{"crit": []string{"exp"}}, claims08()), http.StatusUnauthorized},
		{"KeyMaterialInTheTokenIsNotUsed", hs(map[string]any{"jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}, claims08()), http.StatusOK},
		{"GarbageIsRefused", "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.bm90IGpzb24.c2ln", http.StatusUnauthorized},
	}
	// Restricted to draft-08: a both-drafts hub reads a token whose typ is
	// not at+jwt as a draft-07 token (checked with PublisherJWTKey).
	h := newHub08(t, func(c *mercure.Config) {
		c.Draft = "08"
		c.JWTAlgorithms = []string{"HS256", "RS256", "PS256", "ES256", "EdDSA"}
		c.Issuers = []mercure.Issuer{
			{ID: issuer, PublisherKeys: []string{"old-publisher-secret-of-32-bytes-long", pubKey08}},
			{ID: "https://rsa.example.com", PublisherKeys: []string{rsaPEM}},
			{ID: "https://ec.example.com", PublisherKeys: []string{ecPEM}},
			{ID: "https://ed.example.com", PublisherKeys: []string{edPEM}},
			{ID: "https://other.example.com", PublisherKeys: []string{"other-issuer-secret-of-32-bytes-long"}},
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := h.publish(topicForm, auth(c.token))
			if a.status != c.want {
				t.Fatalf("status %d %q, want %d", a.status, a.body, c.want)
			}
			if c.want == http.StatusUnauthorized && !strings.Contains(a.challenge(), `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate %q, want error=\"invalid_token\"", a.challenge())
			}
		})
	}
	t.Run("TheSubscriberRoleUsesTheSubscriberKeys", func(t *testing.T) {
		subHub := newHub08(t, nil)
		withPubKey := mercuretest.AccessToken(t, pubKey08, localAudience, nil, grant(subs, "*"))
		if a := subHub.subscribe("match=x", auth(withPubKey)); a.status != http.StatusUnauthorized {
			t.Fatalf("a subscriber token signed with the publisher key: %d, want 401", a.status)
		}
		withSubKey := mercuretest.AccessToken(t, subKey08, localAudience, nil, grant(subs, "*"))
		if a := subHub.subscribe("match=x", auth(withSubKey)); a.status != http.StatusOK {
			t.Fatalf("a subscriber token signed with the subscriber key: %d %q, want 200", a.status, a.body)
		}
	})
}

// TestDraft08_Authorization_TokenValidation_Configuration: a hub is
// configured with its resource identifier, and its allowlist never holds
// none.
func TestDraft08_Authorization_TokenValidation_Configuration(t *testing.T) {
	iss := []mercure.Issuer{{ID: issuer, PublisherKeys: []string{pubKey08}}}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	cases := []struct {
		name string
		cfg  mercure.Config
		ok   bool
	}{
		{"IssuersWithoutAnAudienceAreRefused", mercure.Config{Issuers: iss}, false},
		{"ThePublicURLIsTheDefaultAudience", mercure.Config{Issuers: iss, PublicURL: localAudience}, true},
		{"AlgorithmNoneCannotBeAllowed", mercure.Config{Issuers: iss, Audience: localAudience, JWTAlgorithms: []string{"none"}}, false},
		{"AKeyFitForNoAllowedAlgorithmIsRefused", mercure.Config{Audience: localAudience, JWTAlgorithms: []string{"ES256"},
			Issuers: []mercure.Issuer{{ID: issuer, PublisherKeys: []string{pemOf(t, &rsaKey.PublicKey)}}}}, false},
		{"APrivateKeyIsRefused", mercure.Config{Audience: localAudience, Issuers: []mercure.Issuer{{ID: issuer,
			PublisherKeys: []string{string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))}}}}, false},
		{"AnIssuerTwiceIsRefused", mercure.Config{Audience: localAudience, Issuers: append(iss, iss...)}, false},
		{"IssuersOnADraft07HubAreRefused", mercure.Config{Audience: localAudience, Issuers: iss, Draft: "07"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := mercure.New(c.cfg)
			if err == nil {
				s.Close()
			}
			if (err == nil) != c.ok {
				t.Fatalf("New: %v, want ok=%v", err, c.ok)
			}
		})
	}
}

// TestDraft08_Authorization_AuthorizationDetails: §"Authorization
// Details" and §"Topic Matcher List": one malformed Mercure detail refuses
// the whole token (401 invalid_token), other detail types and unknown
// actions are ignored, a token without a Mercure detail grants nothing.
func TestDraft08_Authorization_AuthorizationDetails(t *testing.T) {
	h := newHub08(t, func(c *mercure.Config) { c.MaxTopics = 4; c.MaxSelectorBytes = 64 })
	typ := mercure.AuthorizationDetailType
	valid := map[string]any{"type": typ, "actions": pub, "topics": []any{map[string]any{"match": "*"}}}
	detail := func(kv ...any) map[string]any {
		d := map[string]any{"type": typ, "actions": pub, "topics": []any{map[string]any{"match": "*"}}}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(d, kv[i].(string))
			} else {
				d[kv[i].(string)] = kv[i+1]
			}
		}
		return d
	}
	topic := func(kv ...any) []any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return []any{m}
	}
	cases := []struct {
		name    string
		details any
		want    int
	}{
		{"AValidDetailGrantsItsActions", []any{valid}, http.StatusOK},
		{"NoDetailGrantsNothing", nil, http.StatusForbidden},
		{"OnlyOtherDetailTypesGrantNothing", []any{map[string]any{"type": "https://api.example.com/x", "actions": pub, "topics": "anything"}}, http.StatusForbidden},
		{"OtherDetailTypesAreIgnoredWhateverTheirShape", []any{map[string]any{"type": "https://api.example.com/x", "topics": 7}, valid}, http.StatusOK},
		{"TheTypeIsComparedByteByByte", []any{detail("type", strings.ToUpper(typ))}, http.StatusForbidden},
		{"AnUnknownActionIsIgnored", []any{detail("actions", []string{"frobnicate", "publish"})}, http.StatusOK},
		{"OnlyUnknownActionsGrantNothing", []any{detail("actions", []string{"frobnicate"})}, http.StatusForbidden},
		{"NotAnArrayIsRefused", valid, http.StatusUnauthorized},
		{"AnEntryThatIsNotAnObjectIsRefused", []any{valid, "publish"}, http.StatusUnauthorized},
		{"MissingActionsIsRefused", []any{detail("actions", nil)}, http.StatusUnauthorized},
		{"EmptyActionsIsRefused", []any{detail("actions", []string{})}, http.StatusUnauthorized},
		{"ANonStringActionIsRefused", []any{detail("actions", []any{"publish", 1})}, http.StatusUnauthorized},
		{"MissingTopicsIsRefused", []any{detail("topics", nil)}, http.StatusUnauthorized},
		{"EmptyTopicsIsRefused", []any{detail("topics", []any{})}, http.StatusUnauthorized},
		{"ABareStringTopicIsRefused", []any{detail("topics", []any{"*"})}, http.StatusUnauthorized},
		{"ATopicWithoutMatchIsRefused", []any{detail("topics", topic("match_type", "exact"))}, http.StatusUnauthorized},
		{"ANonStringMatchIsRefused", []any{detail("topics", topic("match", 3))}, http.StatusUnauthorized},
		{"AnEmptyMatchIsRefused", []any{detail("topics", topic("match", ""))}, http.StatusUnauthorized},
		{"AMatchWithAControlCharacterIsRefused", []any{detail("topics", topic("match", "a\x01b"))}, http.StatusUnauthorized},
		{"AnUnsupportedMatchTypeIsRefused", []any{detail("topics", topic("match", "x", "match_type", "uritemplate"))}, http.StatusUnauthorized},
		{"MatchTypeIsCaseSensitive", []any{detail("topics", topic("match", "x", "match_type", "Exact"))}, http.StatusUnauthorized},
		{"AURLPatternThatDoesNotCompileIsRefused", []any{detail("topics", topic("match", "https://example.com/(", "match_type", "urlpattern"))}, http.StatusUnauthorized},
		{"APayloadThatIsNotAnObjectIsRefused", []any{detail("payload", []any{1})}, http.StatusUnauthorized},
		{"OneBadDetailRefusesTheWholeToken", []any{valid, detail("actions", nil)}, http.StatusUnauthorized},
		{"TooManyDetailsAreRefused", []any{valid, valid, valid, valid, valid}, http.StatusUnauthorized},
		{"TooManyTopicMatchersAreRefused", []any{detail("topics", []any{topic("match", "a")[0], topic("match", "b")[0], topic("match", "c")[0]}),
			detail("topics", []any{topic("match", "d")[0], topic("match", "e")[0]})}, http.StatusUnauthorized},
		{"ATooLongMatcherIsRefused", []any{detail("topics", topic("match", strings.Repeat("x", 65)))}, http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := sign(t, jwt.SigningMethodHS256, []byte(pubKey08), nil, with(claims08(), "authorization_details", c.details))
			a := h.publish(topicForm, auth(tok))
			if a.status != c.want {
				t.Fatalf("status %d %q, want %d", a.status, a.body, c.want)
			}
			wantCode := map[int]string{http.StatusUnauthorized: "invalid_token", http.StatusForbidden: "insufficient_scope"}[c.want]
			if wantCode != "" && !strings.Contains(a.challenge(), `error="`+wantCode+`"`) {
				t.Fatalf("WWW-Authenticate %q, want error=%q", a.challenge(), wantCode)
			}
		})
	}
}

// TestDraft08_Authorization_Publishers: §"Publishers": every topic of the
// update, alternate ones included, must be granted, or nothing is
// dispatched and the answer is 403 insufficient_scope.
func TestDraft08_Authorization_Publishers(t *testing.T) {
	h := newHub08(t, func(c *mercure.Config) { c.Anonymous = true })
	cases := []struct {
		name   string
		grants []string
		topics []string
		want   int
	}{
		{"AnExactGrantAllowsItsTopic", []string{"https://example.com/a"}, []string{"https://example.com/a"}, http.StatusOK},
		{"AURLPatternGrantAllowsTheTopicsItMatches", []string{"urlpattern:https://example.com/books/:id"}, []string{"https://example.com/books/1"}, http.StatusOK},
		{"TheWildcardAllowsEveryTopic", []string{"*"}, []string{"https://example.com/a", "urn:b"}, http.StatusOK},
		{"AnUngrantedTopicIs403", []string{"https://example.com/a"}, []string{"https://example.com/b"}, http.StatusForbidden},
		{"AnUngrantedAlternateTopicIs403", []string{"https://example.com/a"}, []string{"https://example.com/a", "https://example.com/b"}, http.StatusForbidden},
		{"AnExactGrantReadsNoPattern", []string{"https://example.com/books/:id"}, []string{"https://example.com/books/1"}, http.StatusForbidden},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			marker := fmt.Sprintf("urn:marker:%d", i)
			tok := mercuretest.AccessToken(t, pubKey08, localAudience, nil, grant(pub, append(slices.Clone(c.grants), marker)...))
			st := openStreamWith(t, h, "match="+url.QueryEscape(c.topics[0])+"&match="+url.QueryEscape(marker), nil)
			a := h.publish(url.Values{"topic": c.topics, "id": {fmt.Sprintf("urn:pub:%d", i)}}, auth(tok))
			if a.status != c.want {
				t.Fatalf("status %d %q, want %d", a.status, a.body, c.want)
			}
			if c.want == http.StatusForbidden && !strings.Contains(a.challenge(), `error="insufficient_scope"`) {
				t.Fatalf("WWW-Authenticate %q, want insufficient_scope", a.challenge())
			}
			if m := h.publish(url.Values{"topic": {marker}, "id": {marker}}, auth(tok)); m.status != http.StatusOK {
				t.Fatalf("marker: %d %q", m.status, m.body)
			}
			want := marker
			if c.want == http.StatusOK {
				want = a.body
			}
			if got := st.nextID(); got != want {
				t.Fatalf("first event %q, want %q", got, want)
			}
		})
	}
	t.Run("ATokenGrantingNoPublishIs403BeforeTheBodyIsRead", func(t *testing.T) {
		tok := mercuretest.AccessToken(t, pubKey08, localAudience, nil, grant(subs, "*"))
		if a := h.publish(topicForm, auth(tok)); a.status != http.StatusForbidden || !strings.Contains(a.challenge(), "insufficient_scope") {
			t.Fatalf("status %d %q, want 403 insufficient_scope", a.status, a.challenge())
		}
	})
	t.Run("ADraft08TokenFollowsDraft08PublishRules", func(t *testing.T) {
		if a := h.publish(url.Values{"topic": {"urn:x"}, "type": {"mercure"}}, auth(pubTok(t, "*"))); a.status != http.StatusBadRequest {
			t.Fatalf("type=mercure with a draft-08 token: %d, want 400", a.status)
		}
	})
}

// TestDraft08_Authorization_PresentingTheAccessToken: §"Presenting the
// Access Token": the Authorization header (scheme in any case) wins over
// the cookie, the cookie is used without it, and no token is read from the
// query string; draft-07's cookie is not draft-08's.
func TestDraft08_Authorization_PresentingTheAccessToken(t *testing.T) {
	h := newHub08(t, nil)
	good := mercuretest.AccessToken(t, subKey08, localAudience, nil, grant(subs, "*"))
	bad := mercuretest.AccessToken(t, "not-the-subscriber-key-but-32-bytes-long", localAudience, nil, grant(subs, "*"))
	cookie := func(name, tok string) string { return name + "=" + tok }
	cases := []struct {
		name   string
		query  string
		header http.Header
		want   int
		code   string // the challenge's error attribute; "-" for none
	}{
		{"TheAuthorizationHeaderIsUsed", "match=x", auth(good), http.StatusOK, ""},
		{"TheSchemeIsMatchedCaseInsensitively", "match=x", http.Header{"Authorization": {"bEaReR " + good}}, http.StatusOK, ""},
		{"TheCookieIsUsedWithoutAHeader", "match=x", http.Header{"Cookie": {cookie(mercure.DefaultAccessTokenCookie, good)}}, http.StatusOK, ""},
		{"TheHeaderWinsOverTheCookie", "match=x", http.Header{"Authorization": {"Bearer " + good}, "Cookie": {cookie(mercure.DefaultAccessTokenCookie, bad)}}, http.StatusOK, ""},
		{"TheCookieIsIgnoredBesideAHeader", "match=x", http.Header{"Authorization": {"Bearer " + bad}, "Cookie": {cookie(mercure.DefaultAccessTokenCookie, good)}}, http.StatusUnauthorized, "invalid_token"},
		{"TheAuthorizationQueryParameterIsNotAToken", "match=x&authorization=" + good, nil, http.StatusUnauthorized, "-"},
		{"TheAccessTokenQueryParameterIsNotAToken", "match=x&access_token=" + good, nil, http.StatusUnauthorized, "-"},
		{"Draft07sCookieIsNotRead", "match=x", http.Header{"Cookie": {cookie(mercure.DefaultCookieName, good)}}, http.StatusUnauthorized, "-"},
		{"ADraft07TokenIsRefused", "match=x", auth(mercuretestToken07(t)), http.StatusUnauthorized, "invalid_token"},
		{"TwoAuthorizationHeadersAre400InvalidRequest", "match=x", http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}}, http.StatusBadRequest, "invalid_request"},
		{"AnotherSchemeIs400InvalidRequest", "match=x", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, http.StatusBadRequest, "invalid_request"},
		{"ABearerWithoutTokenIs400InvalidRequest", "match=x", http.Header{"Authorization": {"Bearer "}}, http.StatusBadRequest, "invalid_request"},
		{"TwoDifferentCookieTokensAre400InvalidRequest", "match=x", http.Header{"Cookie": {cookie(mercure.DefaultAccessTokenCookie, good) + "; " + cookie(mercure.DefaultAccessTokenCookie, bad)}}, http.StatusBadRequest, "invalid_request"},
		{"ADraft07RequestMayPresentADraft08Token", "topic=x", auth(good), http.StatusOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := h.subscribe(c.query, c.header)
			if a.status != c.want {
				t.Fatalf("status %d %q, want %d", a.status, a.body, c.want)
			}
			switch ch := a.challenge(); {
			case c.code == "-" && (ch == "" || strings.Contains(ch, "error=")):
				t.Fatalf("WWW-Authenticate %q, want a challenge without an error code", ch)
			case c.code != "" && c.code != "-" && !strings.Contains(ch, `error="`+c.code+`"`):
				t.Fatalf("WWW-Authenticate %q, want error=%q", ch, c.code)
			}
		})
	}
}

func mercuretestToken07(t *testing.T) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"mercure": map[string]any{"subscribe": []string{"*"}}}).SignedString([]byte(subKey08))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDraft08_Authorization_Cookie_CSRF: §"Security Considerations": a
// publish authorized by the cookie must come from an allowed origin, told
// by Origin or else Referer, and is refused when neither is given.
func TestDraft08_Authorization_Cookie_CSRF(t *testing.T) {
	h := newHub08(t, func(c *mercure.Config) { c.PublishOrigins = []string{"https://app.example.com"} })
	c := http.Header{"Cookie": {mercure.DefaultAccessTokenCookie + "=" + pubTok(t, "*")}}
	cases := []struct {
		name, origin, referer string
		want                  int
	}{
		{"AnAllowedOriginPublishes", "https://app.example.com", "", http.StatusOK},
		{"TheRefererStandsForAMissingOrigin", "", "https://app.example.com/page", http.StatusOK},
		{"AnotherOriginIs400InvalidRequest", "https://evil.example.com", "", http.StatusBadRequest},
		{"NeitherOriginNorRefererIs400InvalidRequest", "", "", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := c.Clone()
			if tc.origin != "" {
				hdr.Set("Origin", tc.origin)
			}
			if tc.referer != "" {
				hdr.Set("Referer", tc.referer)
			}
			a := h.publish(topicForm, hdr)
			if a.status != tc.want {
				t.Fatalf("status %d %q, want %d", a.status, a.body, tc.want)
			}
			if tc.want == http.StatusBadRequest && !strings.Contains(a.challenge(), `error="invalid_request"`) {
				t.Fatalf("WWW-Authenticate %q, want invalid_request", a.challenge())
			}
		})
	}
}

// TestDraft08_Authorization_ErrorResponses: §"Error Responses": no token
// where one is needed is a 401 with a bare Bearer challenge; every
// challenge points to the protected resource metadata.
func TestDraft08_Authorization_ErrorResponses(t *testing.T) {
	h := newHub08(t, nil)
	bare := `Bearer resource_metadata="` + metadataURL + `"`
	cases := []struct {
		name string
		do   func() answer
		want int
		www  string
	}{
		{"APublishWithoutTokenIs401WithABareChallenge", func() answer { return h.publish(topicForm, nil) }, http.StatusUnauthorized, bare},
		{"ASubscribeWithoutTokenIs401WithABareChallenge", func() answer { return h.subscribe("match=x", nil) }, http.StatusUnauthorized, bare},
		{"AnInvalidTokenIs401InvalidToken", func() answer { return h.publish(topicForm, auth("a.b.c")) }, http.StatusUnauthorized,
			`Bearer error="invalid_token", resource_metadata="` + metadataURL + `"`},
		{"AnInsufficientScopeIs403", func() answer { return h.publish(topicForm, auth(pubTok(t, "urn:other"))) }, http.StatusForbidden,
			`Bearer error="insufficient_scope", resource_metadata="` + metadataURL + `"`},
		{"AMalformedPresentationIs400InvalidRequest", func() answer { return h.subscribe("match=x", http.Header{"Authorization": {"Token x"}}) }, http.StatusBadRequest,
			`Bearer error="invalid_request", resource_metadata="` + metadataURL + `"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := c.do()
			if a.status != c.want || a.challenge() != c.www {
				t.Fatalf("= %d %q, want %d %q", a.status, a.challenge(), c.want, c.www)
			}
		})
	}
	t.Run("TheReasonATokenFailedIsNotDisclosed", func(t *testing.T) {
		expired := mercuretest.AccessToken(t, pubKey08, localAudience, jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()}, grant(pub, "*"))
		a, b := h.publish(topicForm, auth(expired)), h.publish(topicForm, auth(pubTok(t, "*")+"x"))
		if a.body != b.body {
			t.Fatalf("an expired token is answered %q, a bad signature %q: want the same answer", a.body, b.body)
		}
	})
}

// TestDraft08_Authorization_ProtectedResourceMetadata: §"Protected
// Resource Metadata" (RFC 9728): the document at the path derived from the
// hub's URL names the resource tokens' aud must hold, the detail type, the
// bearer methods and the cookie; a draft-07 hub serves none.
func TestDraft08_Authorization_ProtectedResourceMetadata(t *testing.T) {
	h := newHub08(t, func(c *mercure.Config) {
		c.Subscriptions = true
		c.Issuers = append(c.Issuers, mercure.Issuer{ID: "https://as.example.com", SubscriberKeys: []string{"as-secret-of-at-least-32-bytes-long!"}, AuthorizationServer: true})
	})
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+mercure.ProtectedResourceMetadataPath, nil)
	a := h.do(req)
	if a.status != http.StatusOK || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("= %d %q %q", a.status, a.header.Get("Content-Type"), a.body)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(a.body), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"resource":                              localAudience,
		"authorization_servers":                 []any{"https://as.example.com"},
		"authorization_details_types_supported": []any{mercure.AuthorizationDetailType},
		"bearer_methods_supported":              []any{"header"},
		"mercure_cookie":                        mercure.DefaultAccessTokenCookie,
		"mercure_subscriptions":                 true,
	}
	for k, v := range want {
		if got, _ := json.Marshal(doc[k]); string(got) != mustJSON(t, v) {
			t.Errorf("%s = %s, want %s", k, got, mustJSON(t, v))
		}
	}
	t.Run("ADraft07HubServesNone", func(t *testing.T) {
		h := newHub08(t, func(c *mercure.Config) { c.Draft = "07"; c.Issuers = nil })
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+mercure.ProtectedResourceMetadataPath, nil)
		if a := h.do(req); a.status != http.StatusNotFound {
			t.Fatalf("= %d, want 404", a.status)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDraft08_Authorization_Subscribers_ConnectionLifetime: §"Subscribers":
// a stream opened with a token ends by its exp, and by the hub's own bound
// (Config.MaxTokenStream) when exp is later.
func TestDraft08_Authorization_Subscribers_ConnectionLifetime(t *testing.T) {
	cases := []struct {
		name     string
		exp      time.Duration
		maxAlive time.Duration
	}{
		{"TheStreamEndsAtExp", 1500 * time.Millisecond, time.Hour},
		{"TheStreamEndsAtTheHubsBound", time.Hour, 1500 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHub08(t, func(cfg *mercure.Config) { cfg.MaxTokenStream = c.maxAlive })
			tok := mercuretest.AccessToken(t, subKey08, localAudience, jwt.MapClaims{"exp": time.Now().Add(c.exp).Unix()}, grant(subs, "*"))
			st := openStreamWith(t, h, "match=x", auth(tok))
			st.ended()
		})
	}
}

// TestDraft08_Authorization_Payloads: §"Payloads": the payload of the
// first subscribe detail whose topics match the subscription's matcher,
// read as a topic, is the subscription's.
func TestDraft08_Authorization_Payloads(t *testing.T) {
	h := newHub08(t, nil)
	tok := mercuretest.AccessToken(t, subKey08, localAudience, nil,
		mercuretest.Grant{Actions: subs, Topics: []string{"https://example.com/foo"}, Payload: map[string]any{"custom1": "foo"}},
		mercuretest.Grant{Actions: subs, Topics: []string{"urlpattern:https://example.com/bar/:id"}, Payload: map[string]any{"custom2": "bar"}},
		mercuretest.Grant{Actions: pub, Topics: []string{"*"}, Payload: map[string]any{"never": "publish"}},
		mercuretest.Grant{Actions: subs, Topics: []string{"*"}, Payload: map[string]any{"custom3": "default"}},
	)
	cases := []struct{ name, query, want string }{
		{"AnExactGrantMatchesTheSameMatcher", "match=" + url.QueryEscape("https://example.com/foo"), `{"custom1":"foo"}`},
		{"AURLPatternGrantMatchesThePatternReadAsATopic", "match_urlpattern=" + url.QueryEscape("https://example.com/bar/:id"), `{"custom2":"bar"}`},
		{"TheWildcardIsTheDefault", "match=" + url.QueryEscape("https://example.com/baz"), `{"custom3":"default"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := openStreamWith(t, h, c.query, auth(tok))
			defer st.close()
			found := ""
			for _, info := range h.s.Hub().Subscriptions() {
				if strings.Contains(strings.Join(info.Selectors, " "), strings.SplitN(mustUnescape(t, c.query), "=", 2)[1]) {
					found = string(info.Payload)
				}
			}
			if found != c.want {
				t.Fatalf("payload %s, want %s", found, c.want)
			}
		})
	}
}

func mustUnescape(t *testing.T, s string) string {
	u, err := url.QueryUnescape(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestDraft08_Authorization_TokensForAnotherAddress: a hub told its
// audience accepts tokens minted for it by an external issuer whatever
// address it listens on, and its challenges point to the metadata of that
// audience.
func TestDraft08_Authorization_TokensForAnotherAddress(t *testing.T) {
	h := newHub08(t, nil) // listens on 127.0.0.1:random, audience https://localhost/...
	if a := h.publish(topicForm, auth(pubTok(t, "*"))); a.status != http.StatusOK {
		t.Fatalf("a token for %s: %d %q, want 200", localAudience, a.status, a.body)
	}
	tokForListener := mercuretest.AccessToken(t, pubKey08, h.srv.URL+mercure.HubPath, nil, grant(pub, "*"))
	if a := h.publish(topicForm, auth(tokForListener)); a.status != http.StatusUnauthorized {
		t.Fatalf("a token for the listening address %s: %d, want 401 (the audience is configured, not derived from Host)", h.srv.URL, a.status)
	}
}

// stream08 is an open event stream.
type stream08 struct {
	t      *testing.T
	events chan sse.Event
	cancel context.CancelFunc
}

// openStreamWith subscribes and fails the test unless the answer is 200.
func openStreamWith(t *testing.T, h *hub08, query string, header http.Header) *stream08 {
	t.Helper()
	return openStreamAt(t, h, mercure.HubPath, query, header)
}

// openStreamAt subscribes at path and fails the test unless the answer is 200.
func openStreamAt(t *testing.T, h *hub08, path, query string, header http.Header) *stream08 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+path+"?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := h.srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatalf("subscribe %q: %v", query, err)
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		t.Fatalf("subscribe %q = %d %q", query, res.StatusCode, b)
	}
	st := &stream08{t: t, events: make(chan sse.Event, 100), cancel: cancel}
	go func() {
		defer close(st.events)
		defer res.Body.Close()
		for ev, err := range sse.Read(res.Body) {
			if err != nil {
				return
			}
			st.events <- ev
		}
	}()
	t.Cleanup(st.close)
	return st
}

func (st *stream08) close() { st.cancel() }

// nextID returns the id of the next event, failing after the timeout.
func (st *stream08) nextID() string {
	st.t.Helper()
	select {
	case ev, ok := <-st.events:
		if !ok {
			st.t.Fatal("stream ended, want an event")
		}
		return ev.ID
	case <-time.After(mercuretest.Timeout):
		st.t.Fatal("no event within the timeout")
	}
	return ""
}

// next returns the next event, failing after the timeout.
func (st *stream08) next() sse.Event {
	st.t.Helper()
	select {
	case ev, ok := <-st.events:
		if !ok {
			st.t.Fatal("stream ended, want an event")
		}
		return ev
	case <-time.After(mercuretest.Timeout):
		st.t.Fatal("no event within the timeout")
	}
	return sse.Event{}
}

// ended waits for the stream to end, failing after the timeout.
func (st *stream08) ended() {
	st.t.Helper()
	deadline := time.After(mercuretest.Timeout)
	for {
		select {
		case _, ok := <-st.events:
			if !ok {
				return
			}
		case <-deadline:
			st.t.Fatal("stream did not end within the timeout")
		}
	}
}
