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
