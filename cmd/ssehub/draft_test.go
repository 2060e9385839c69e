package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/mercure/mercuretest"
)

// draftHub is an in-process hub serving one draft only, to anonymous
// subscribers when anonymous is set; a draft-08 one trusts mercuretest's
// issuer, with mercuretest.PublisherKey for both roles.
func draftHub(t *testing.T, draft string, anonymous bool) (*mercure.Server, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	hubURL := "http://" + srv.Listener.Addr().String() + mercure.HubPath
	cfg := mercure.Config{Draft: draft, Anonymous: anonymous, PublicURL: hubURL, Heartbeat: -1, PublisherJWTKey: mercuretest.PublisherKey}
	if draft == "08" {
		keys := []string{mercuretest.PublisherKey}
		cfg.Issuers = []mercure.Issuer{{ID: mercuretest.Issuer08, PublisherKeys: keys, SubscriberKeys: keys}}
	}
	s, err := mercure.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(func() {
		s.Close()
		srv.CloseClientConnections()
		srv.Close()
	})
	return s, hubURL
}

// publishIDs publishes one update per id to topic.
func publishIDs(t *testing.T, s *mercure.Server, topic string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.Hub().Publish(t.Context(), &hub.Update{ID: id, Topics: []string{topic}, Data: "d-" + id}); err != nil {
			t.Fatal(err)
		}
	}
}

// listenIDs runs "ssehub listen -json" with args and returns the ids of
// the events it printed.
func listenIDs(t *testing.T, env map[string]string, args ...string) []string {
	t.Helper()
	code, out, stderr := runMain(t, "", env, append([]string{"listen", "-json", "-no-reconnect"}, args...)...)
	if code != exitOK {
		t.Fatalf("listen %q: exit %d: %s", args, code, stderr)
	}
	var ids []string
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var ev jsonEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("listen printed %q: %v", line, err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

// listen speaks either draft to a hub: draft 07 with
// topic= and lastEventID=, draft 08 with match=, match_urlpattern= and
// last_event_id= (a hub serving one draft only refuses the other's
// parameters, so each run proves its draft's).
func TestListen_SubscribesToAMercureHubInEitherDraft(t *testing.T) {
	for _, draft := range []string{"07", "08"} {
		t.Run("Draft"+draft, func(t *testing.T) {
			s, hubURL := draftHub(t, draft, true)
			publishIDs(t, s, "https://example.com/books/1", "urn:b1:0", "urn:b1:1", "urn:b1:2")
			publishIDs(t, s, "https://example.com/authors/1", "urn:a1:0")
			cases := []struct {
				name string
				args []string
				env  map[string]string
				want []string
			}{
				{"AnExactTopicFromALastEventID", []string{"-topic", "https://example.com/books/1", "-last-event-id", "urn:b1:0", "-max-events", "2"}, nil,
					[]string{"urn:b1:1", "urn:b1:2"}},
				{"TwoTopicsFromEarliest", []string{"-topic", "https://example.com/books/1", "-topic", "https://example.com/authors/1", "-last-event-id", "earliest", "-max-events", "4"}, nil,
					[]string{"urn:b1:0", "urn:b1:1", "urn:b1:2", "urn:a1:0"}},
			}
			if draft == "07" {
				cases = append(cases, struct {
					name string
					args []string
					env  map[string]string
					want []string
				}{"AURITemplate", []string{"-topic", "https://example.com/authors/{id}", "-last-event-id", "earliest", "-max-events", "1"}, nil, []string{"urn:a1:0"}})
			} else {
				cases = append(cases, struct {
					name string
					args []string
					env  map[string]string
					want []string
				}{"AURLPatternWithTheDraftFromTheEnvironment", []string{"-urlpattern", "https://example.com/authors/:id", "-last-event-id", "earliest", "-max-events", "1"},
					map[string]string{"SSEHUB_DRAFT": "08"}, []string{"urn:a1:0"}})
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					args := c.args
					if c.env == nil {
						args = append([]string{"-draft", draft}, args...)
					}
					if got := listenIDs(t, c.env, append(args, hubURL)...); !slices.Equal(got, c.want) {
						t.Fatalf("listen printed %q, want %q", got, c.want)
					}
				})
			}
		})
	}
}

// -token presents a subscriber's token as Authorization: Bearer, so that
// a hub admitting no anonymous subscriber serves "ssehub listen" the
// events the token grants; without it the hub refuses the subscription.
func TestListen_TokenIsSentAsABearerCredential(t *testing.T) {
	s, hubURL := draftHub(t, "08", false)
	publishIDs(t, s, "https://example.com/books/1", "urn:b1:0", "urn:b1:1")
	tok := mercuretest.AccessToken(t, mercuretest.PublisherKey, hubURL, nil, mercuretest.Grant{Actions: []string{"subscribe"}, Topics: []string{"*"}})
	args := []string{"-draft", "08", "-topic", "https://example.com/books/1", "-last-event-id", "earliest", "-max-events", "2"}
	if got := listenIDs(t, nil, append(append([]string{"-token", tok}, args...), hubURL)...); !slices.Equal(got, []string{"urn:b1:0", "urn:b1:1"}) {
		t.Fatalf("listen -token printed %q, want both updates", got)
	}
	if code, _, stderr := runMain(t, "", nil, append(append([]string{"listen", "-no-reconnect"}, args...), hubURL)...); code == exitOK || !strings.Contains(stderr, "401") {
		t.Fatalf("listen without -token: exit %d %q, want a failure naming 401", code, stderr)
	}
	both := append([]string{"listen", "-token", tok, "-H", "Authorization: Bearer x"}, append(args, hubURL)...)
	if code, _, stderr := runMain(t, "", nil, both...); code != exitUsage || !strings.Contains(stderr, "-token") {
		t.Fatalf("listen -token with -H Authorization: exit %d %q, want %d naming -token", code, stderr, exitUsage)
	}
}

func TestListen_MercureFlagsRefuseWhatTheDraftCannotSay(t *testing.T) {
	for _, args := range [][]string{
		{"-draft", "07", "-urlpattern", "https://example.com/:id", "http://127.0.0.1:1/.well-known/mercure"},
		{"-draft", "09", "-topic", "x", "http://127.0.0.1:1/.well-known/mercure"},
		{"-topic", "x", "ftp://127.0.0.1/.well-known/mercure"},
	} {
		if code, _, stderr := runMain(t, "", nil, append([]string{"listen"}, args...)...); code != exitUsage || stderr == "" {
			t.Errorf("listen %q: exit %d %q, want %d with a reason", args, code, stderr, exitUsage)
		}
	}
}

// bench's subscribers speak draft 08 to a hub serving draft 08 only: match=
// for live delivery, last_event_id= for a replay (whose answer must carry
// Mercure-Last-Event-ID, which bench checks), with draft-08 access tokens
// given or minted with -jwt-key (the hub admits no anonymous subscriber).
func TestBench_SubscribersSpeakDraft08(t *testing.T) {
	_, hubURL := draftHub(t, "08", false)
	grant := func(action string) string {
		return mercuretest.AccessToken(t, mercuretest.PublisherKey, hubURL, nil, mercuretest.Grant{Actions: []string{action}, Topics: []string{"*"}})
	}
	given := []string{"-publisher-token", grant("publish"), "-subscriber-token", grant("subscribe")}
	minted := []string{"-jwt-key", mercuretest.PublisherKey, "-jwt-issuer", mercuretest.Issuer08}
	for _, run := range []struct {
		replay string
		tokens []string
	}{{"", given}, {"first", given}, {"earliest", minted}} {
		replay := run.replay
		args := append([]string{"bench", "-hub", hubURL, "-draft", "08",
			"-subscribers", "5", "-updates", "20", "-json", "-quiet", "-metrics", "off"}, run.tokens...)
		if replay != "" {
			args = append(args, "-replay", replay)
		}
		code, stdout, stderr := runMain(t, "", nil, args...)
		if code != exitOK {
			t.Fatalf("bench -replay %q: exit %d: %s", replay, code, stderr)
		}
		var res struct {
			Expected, Distinct, Lost int64
			Draft, Stop              string
			Errors                   []string
		}
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatal(err)
		}
		if res.Draft != "08" || res.Expected == 0 || res.Distinct != res.Expected || res.Lost != 0 || res.Stop != "complete" || len(res.Errors) > 0 {
			t.Fatalf("bench -replay %q: %+v, want every update delivered over draft 08", replay, res)
		}
	}
}
