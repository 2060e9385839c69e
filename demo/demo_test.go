package demo

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ssehub/ssehub/sse"
)

func TestPieces_AreOneToThreeCharactersAndRebuildTheText(t *testing.T) {
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, seed))
		pieces := Pieces(Poem, rnd.IntN)
		if got := strings.Join(pieces, ""); got != Poem {
			t.Fatalf("seed %d: pieces join to %q", seed, got)
		}
		for _, p := range pieces {
			if n := utf8.RuneCountInString(p); n < 1 || n > 3 || !utf8.ValidString(p) {
				t.Fatalf("seed %d: piece %q has %d characters", seed, p, n)
			}
		}
	}
}

func TestPieces_CutsCharactersNotBytes(t *testing.T) {
	always := func(n int) int { return n - 1 } // always 3 characters
	got := Pieces("故人西辞黄", always)
	if len(got) != 2 || got[0] != "故人西" || got[1] != "辞黄" {
		t.Fatalf("got %q", got)
	}
}

func TestStreamHandler_SendsPingPiecesAndDone(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{Delay: -1}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/sse/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	var evs []sse.Event
	for ev, err := range sse.Read(resp.Body) {
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if len(evs) < 3 || evs[0].Type != "ping" || evs[0].Data != "ping" {
		t.Fatalf("stream does not start with ping: %q", evs)
	}
	last := evs[len(evs)-1]
	if last.Type != DoneEvent {
		t.Fatalf("stream does not end with %q: %q", DoneEvent, last)
	}
	var text strings.Builder
	var streamID string
	var prevTS int64
	for _, ev := range evs[1 : len(evs)-1] {
		if ev.Type != "message" {
			t.Fatalf("unexpected event %q", ev)
		}
		var p Piece
		if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
			t.Fatalf("data %q: %v", ev.Data, err)
		}
		if streamID == "" {
			streamID = p.ID
		}
		if p.ID != streamID || len(p.ID) != 36 {
			t.Fatalf("piece id %q, want one UUID per stream (%q)", p.ID, streamID)
		}
		if p.Timestamp < prevTS || p.Timestamp == 0 {
			t.Fatalf("timestamp %d after %d", p.Timestamp, prevTS)
		}
		prevTS = p.Timestamp
		text.WriteString(p.Content)
	}
	if text.String() != Poem {
		t.Fatalf("contents join to %q, want the poem", text.String())
	}
	if last.Data != streamID {
		t.Fatalf("done event data %q, want the stream id %q", last.Data, streamID)
	}
}

func TestHandler_ServesThePage(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	for _, want := range []string{">输出</button>", "white-space: pre-line", `new EventSource("/sse/stream")`, `addEventListener("ping"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if resp, _ := http.Get(srv.URL + "/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", resp.StatusCode)
	}
}
