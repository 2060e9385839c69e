package main

import (
	"strings"
	"testing"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/durable/durabletest"
	"github.com/ssehub/ssehub/store/memory"
)

func TestStream_CreateAppendCloseThenFollowPrintsEverythingAndStopsAtTheClosure(t *testing.T) {
	st := memory.NewStreams(memory.StreamsOptions{})
	t.Cleanup(func() { st.Close() })
	u := durabletest.Serve(t, durable.Config{Store: st}) + "cli"

	steps := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"stream", "create", "-d", "one ", u}, "0000000000000000_0000000000000004\n"},
		{"two ", []string{"stream", "append", "-d", "@-", u}, "0000000000000000_0000000000000008\n"},
		{"", []string{"stream", "append", "-d", "three", "-close", u}, "0000000000000000_0000000000000013\n"},
		{"", []string{"stream", "close", u}, "0000000000000000_0000000000000013\n"},
		{"", []string{"stream", "follow", u}, "one two three"},
		{"", []string{"stream", "follow", "-offset", "0000000000000000_0000000000000008", u}, "three"},
	}
	for _, s := range steps {
		code, stdout, stderr := runMain(t, s.stdin, nil, s.args...)
		if code != exitOK || stdout != s.want {
			t.Fatalf("ssehub %s: exit %d, stdout %q, want %q; stderr %s", strings.Join(s.args, " "), code, stdout, s.want, stderr)
		}
	}
	code, _, stderr := runMain(t, "", nil, "stream", "append", "-d", "x", u)
	if code != exitFailure || !strings.Contains(stderr, "409") {
		t.Fatalf("append to a closed stream: exit %d, stderr %q; want 1 and the 409", code, stderr)
	}
	if code, _, _ := runMain(t, "", nil, "stream", "bogus", u); code != exitUsage {
		t.Fatalf("unknown action: exit %d, want %d", code, exitUsage)
	}
}
