package mercure

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestPoolHeartbeat_EveryRoundReachesAnIdleStream runs two heartbeat rounds
// of the writer pool by hand and checks that an idle stream gets a comment
// in each: a heartbeat must not count as the stream's own traffic, or idle
// streams would get one every other round.
func TestPoolHeartbeat_EveryRoundReachesAnIdleStream(t *testing.T) {
	// The shard's own ticker never fires during the test: the rounds are
	// the test's.
	s, err := New(Config{Anonymous: true, Heartbeat: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { s.Close(); srv.CloseClientConnections(); srv.Close() })

	// A missing heartbeat fails the read when the client's time is up.
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(srv.URL + HubPath + "?topic=t")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The stream is taken over once its headers are sent; wait (bounded)
	// until the pool holds it.
	var sh *shard
	for deadline := time.Now().Add(5 * time.Second); sh == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the writer pool never took the stream over")
		}
		for _, x := range s.pool.shards {
			if len(x.sessions(nil)) == 1 {
				sh = x
			}
		}
		time.Sleep(time.Millisecond) // no signal for the take-over: poll
	}
	br := bufio.NewReader(resp.Body)
	for round := 1; round <= 3; round++ {
		sh.heartbeat()
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, ":") {
			t.Fatalf("round %d: read %q, %v; want a heartbeat comment", round, line, err)
		}
		if line, _ = br.ReadString('\n'); line != "\n" {
			t.Fatalf("round %d: the comment is followed by %q, want a blank line", round, line)
		}
	}
}

// TestPacer_PausesOnlyWhileUpdatesComeFasterThanRounds plays sequences of
// rounds (idle time before each, and its length) through a shard's pacer:
// at an everyday load (updates further apart than a round takes) no round
// is followed by a pause, so each update leaves as soon as it is
// published; under a sustained load every round after the second is, as
// long as the round (between Coalesce and 8 × Coalesce).
func TestPacer_PausesOnlyWhileUpdatesComeFasterThanRounds(t *testing.T) {
	const ms = time.Millisecond
	type round struct{ idle, length, wantPause time.Duration }
	tests := []struct {
		name   string
		rounds []round
	}{
		{"updates further apart than a round takes are never followed by a pause", []round{
			{time.Hour, 8 * ms, 0}, {12 * ms, 8 * ms, 0}, {12 * ms, 8 * ms, 0}, {11 * ms, 9 * ms, 0},
		}},
		{"one update soon after another is not a load", []round{
			{time.Hour, 8 * ms, 0}, {2 * ms, 8 * ms, 0}, {12 * ms, 8 * ms, 0}, {3 * ms, 8 * ms, 0}, {12 * ms, 8 * ms, 0},
		}},
		{"the rest of a fan-out queued on another core is not a load", []round{
			{time.Hour, 3 * ms, 0}, {0, 5 * ms, 0}, {15 * ms, 3 * ms, 0}, {0, 5 * ms, 0},
		}},
		{"updates as fast as the shard writes them earn a pause as long as the round, at most 8 × Coalesce", []round{
			{time.Hour, 8 * ms, 0}, {ms / 10, 8 * ms, 0}, {ms / 10, 8 * ms, 8 * ms}, {0, 12 * ms, 8 * ms}, {0, 3 * ms, 3 * ms},
		}},
		{"short rounds under load pause at least Coalesce", []round{
			{time.Hour, ms / 100, 0}, {ms / 2, ms / 100, 0}, {ms / 2, ms / 100, ms},
		}},
		{"the pause ends when the load does", []round{
			{time.Hour, 8 * ms, 0}, {0, 8 * ms, 0}, {0, 8 * ms, 8 * ms}, {0, 8 * ms, 8 * ms}, {30 * ms, 8 * ms, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p pacer
			now := time.Unix(1e9, 0)
			for i, r := range tt.rounds {
				now = now.Add(r.idle)
				began := now
				p.begin(began, ms)
				now = now.Add(r.length)
				got := p.pause(began, now, ms)
				if got != r.wantPause {
					t.Errorf("round %d (after %v idle, %v long): pause %v, want %v", i, r.idle, r.length, got, r.wantPause)
				}
				now = now.Add(got)
				p.end = now
			}
		})
	}
}
