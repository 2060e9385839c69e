package loadgen_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/durable/durabletest"
	"github.com/ssehub/ssehub/loadgen"
	"github.com/ssehub/ssehub/store/memory"
)

// durableServer serves Durable Streams on a memory store that holds at
// most maxStreams streams (0: the default) and returns the stream root.
func durableServer(t *testing.T, maxStreams int) string {
	t.Helper()
	st := memory.NewStreams(memory.StreamsOptions{})
	t.Cleanup(func() { st.Close() })
	return durabletest.Serve(t, durable.Config{Store: st, MaxStreams: maxStreams})
}

func TestRun_DurableStreamReadersGetEveryAppendOnceAndInOrder(t *testing.T) {
	for _, replay := range []string{loadgen.ReplayNone, loadgen.ReplayEarliest} {
		t.Run("replay="+replay, func(t *testing.T) {
			root := durableServer(t, 0)
			res, err := loadgen.Run(context.Background(), loadgen.Config{
				Protocol: loadgen.ProtocolDurable, HubURL: root, Subscribers: 5, Updates: 40, Replay: replay,
				DrainTimeout: 5 * time.Second, Timeout: time.Minute,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Distinct != 5*40 || res.Lost != 0 || res.Duplicated != 0 || res.OutOfOrder != 0 || res.Unexpected != 0 || res.Stop != "complete" {
				t.Fatalf("distinct %d lost %d dup %d out of order %d unexpected %d stop %s, want every one of 200 exactly once; errors %v",
					res.Distinct, res.Lost, res.Duplicated, res.OutOfOrder, res.Unexpected, res.Stop, res.Errors)
			}
			if res.LatencyUS.Count != 200 {
				t.Fatalf("%d latency samples, want 200", res.LatencyUS.Count)
			}
		})
	}
}

func TestRunAppends_EveryAcknowledgedAppendIsInItsStream(t *testing.T) {
	root := durableServer(t, 0)
	res, err := loadgen.RunAppends(context.Background(), loadgen.AppendConfig{URL: root, Streams: 3, Appenders: 4, Appends: 30, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 3 || res.Appended != 30 || res.Failed != 0 || res.Stop != "complete" || res.LatencyUS.Count != 30 {
		t.Fatalf("created %d appended %d failed %d stop %s samples %d, want 3, 30, 0, complete, 30; errors %v",
			res.Created, res.Appended, res.Failed, res.Stop, res.LatencyUS.Count, res.Errors)
	}
	// The streams are the run's; list them by reading what was appended:
	// 30 lines over 3 streams, 10 each.
	lines := 0
	for i := range 3 {
		name := strings.TrimPrefix(res.StreamURL(i), root)
		resp, err := http.Get(root + name + "?offset=-1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if n := strings.Count(string(body), "\n"); n != 10 {
			t.Errorf("stream %s holds %d appends, want 10", name, n)
		}
		lines += strings.Count(string(body), "\n")
	}
	if lines != 30 {
		t.Fatalf("the streams hold %d appends, want 30", lines)
	}
}

func TestRunAppends_ARefusedCreateStopsTheRunWithTheServersAnswer(t *testing.T) {
	root := durableServer(t, 2)
	res, err := loadgen.RunAppends(context.Background(), loadgen.AppendConfig{URL: root, Streams: 3, Appenders: 1, Appends: 5, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "507") {
		t.Fatalf("a third stream on a server that holds 2: %v, want the server's 507", err)
	}
	if res.Stop != "failed" || res.Appended != 0 {
		t.Fatalf("stop %q after %d appends, want failed before any", res.Stop, res.Appended)
	}
}
