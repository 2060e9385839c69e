package hubtest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// TestPresence checks two nodes announcing themselves through two stores on
// one shared backend: each sees both, with what the other announced, a
// new announcement replaces the old one, and a node that stops announcing
// vanishes by itself once ttl has passed.
func TestPresence(t *testing.T, a, b hub.Presence) {
	t.Helper()
	ctx := context.Background()
	const ttl = time.Second
	now := time.Now().UTC().Truncate(time.Millisecond)
	na := hub.Node{ID: "node-a", Addr: "127.0.0.1:1001", Subscribers: 3, Seen: now}
	nb := hub.Node{ID: "node/b:with odd chars", Addr: "127.0.0.1:1002", Subscribers: 0, Seen: now}
	if err := a.Announce(ctx, na, ttl); err != nil {
		t.Fatal(err)
	}
	if err := b.Announce(ctx, nb, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, p := range []hub.Presence{a, b} {
		got, err := p.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := jsonOf(t, got), jsonOf(t, []hub.Node{na, nb}); g != w {
			t.Fatalf("Nodes = %s, want %s", g, w)
		}
	}
	nb.Subscribers = 7
	if err := b.Announce(ctx, nb, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := a.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Subscribers != 7 {
		t.Fatalf("after a second announcement Nodes = %v, want node b with 7 subscribers", got)
	}
	// Node a stops announcing; its announcement expires after ttl.
	deadline := time.Now().Add(backendWait)
	for {
		got, err := b.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && got[0].ID == nb.ID {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after node a stopped announcing itself; want node b only", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
