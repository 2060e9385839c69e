package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssehub/ssehub/internal/servertest"
)

// conformanceDir holds the pinned official Durable Streams conformance
// suite (package.json, package-lock.json); scripts/deps.sh runs npm ci there.
const conformanceDir = "../../conformance/durable-streams"

// durableStores are the stores the conformance suite runs against, as
// extra "ssehub serve" arguments. A store kept by several nodes adds a row.
func durableStores(t *testing.T) []struct{ name, url string } {
	return []struct{ name, url string }{
		{"memory", "memory://"},
		{"bolt", "bolt://" + filepath.Join(t.TempDir(), "durable.db")},
		{"redis", sharedStreams(t, "redis")},
		{"nats", sharedStreams(t, "nats")},
	}
}

// vitestReport is the part of vitest's JSON report the test reads.
type vitestReport struct {
	NumTotalTests, NumPassedTests, NumFailedTests, NumPendingTests, NumTodoTests int
	TestResults                                                                  []struct {
		AssertionResults []struct {
			FullName        string
			Status          string
			FailureMessages []string
		}
	}
}

// runConformance runs the official suite against the Durable Streams
// served at base (e.g. http://127.0.0.1:8080) and returns vitest's report.
func runConformance(t *testing.T, base string) vitestReport {
	t.Helper()
	dir, err := filepath.Abs(conformanceDir)
	if err != nil {
		t.Fatal(err)
	}
	vitest := filepath.Join(dir, "node_modules", ".bin", "vitest")
	if _, err := os.Stat(vitest); err != nil {
		t.Fatalf("the Durable Streams conformance suite is not installed (%v): run scripts/deps.sh (it runs npm ci in %s; needs Node 20 and npm)", err, dir)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not on PATH: the Durable Streams conformance suite needs Node 20: %v", err)
	}
	report := filepath.Join(t.TempDir(), "report.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, vitest, "run", "--reporter=json", "--outputFile="+report)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CONFORMANCE_TEST_URL="+base, "NO_COLOR=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("vitest wrote no report (%v; run error %v):\n%s", err, runErr, out.String())
	}
	var r vitestReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("vitest report: %v", err)
	}
	return r
}

// TestDurableStreamsConformance runs the official conformance suite,
// @durable-streams/server-conformance-tests (version pinned in
// conformance/durable-streams), against "ssehub serve" on each store: every
// test the suite does not skip must pass.
func TestDurableStreamsConformance(t *testing.T) {
	for _, st := range durableStores(t) {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			// A short long-poll keeps the suite's timeout tests (which wait
			// for the 204) well inside vitest's per-test timeout.
			srv := startServer(t, "-store", "memory://", "-durable-store", st.url, "-durable-long-poll", "2s")
			r := runConformance(t, srv.url)
			for _, file := range r.TestResults {
				for _, a := range file.AssertionResults {
					if a.Status == "failed" {
						t.Errorf("conformance: %s\n%s", a.FullName, firstLine(a.FailureMessages))
					}
				}
			}
			t.Logf("conformance on %s: %d tests, %d passed, %d failed, %d skipped",
				st.name, r.NumTotalTests, r.NumPassedTests, r.NumFailedTests, r.NumPendingTests+r.NumTodoTests)
			if r.NumPassedTests == 0 || r.NumFailedTests > 0 {
				t.Fatalf("conformance on %s: %d passed, %d failed", st.name, r.NumPassedTests, r.NumFailedTests)
			}
		})
	}
}

func firstLine(msgs []string) string {
	if len(msgs) == 0 {
		return ""
	}
	m := msgs[0]
	if i := bytes.IndexByte([]byte(m), '\n'); i > 0 && i < 400 {
		return m[:i]
	}
	if len(m) > 400 {
		return m[:400]
	}
	return m
}

// TestDurableStreamsOfficialClient runs conformance/durable-streams/
// client.test.mjs, the official TypeScript client against "ssehub serve":
// create, append, close, live SSE and long-poll reads, resumption from an
// offset, SSE responses the server ends every 1.5 s (longer than the client's 1 s "short connection" threshold), an idempotent
// producer; and the demo's resumable answer, which the official client
// reads live at /v1/stream/answers/<id> as the same events a browser gets.
func TestDurableStreamsOfficialClient(t *testing.T) {
	dir, err := filepath.Abs(conformanceDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@durable-streams", "client")); err != nil {
		t.Fatalf("@durable-streams/client is not installed (%v): run scripts/deps.sh", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: the official client test needs Node 20: %v", err)
	}
	srv := startServer(t, "-store", "memory://", "-durable-store", "bolt://"+filepath.Join(t.TempDir(), "d.db"),
		"-durable-long-poll", "2s", "-durable-sse-duration", "1500ms", "-demo-delay", "50ms")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-timeout", "30000", "client.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DURABLE_STREAMS_URL="+srv.url+"/v1/stream", "DEMO_URL="+srv.url, "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the official client's tests failed: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out[bytes.LastIndex(out, []byte("# tests")):]))
}

// sharedStreams returns a store URL for Durable Streams of their own on the
// shared Redis or NATS server ("redis" or "nats"), removed at cleanup.
func sharedStreams(t *testing.T, kind string) string {
	t.Helper()
	ctx := context.Background()
	switch kind {
	case "redis":
		addr, prefix := servertest.SharedRedis(t), servertest.Unique("ds")
		t.Cleanup(func() {
			c := redis.NewClient(&redis.Options{Addr: addr})
			defer c.Close()
			if keys, _ := c.Keys(ctx, "{"+prefix+"}:*").Result(); len(keys) > 0 {
				c.Del(ctx, keys...)
			}
		})
		return "redis://" + addr + "/0?key=" + prefix
	default:
		addr, stream := servertest.SharedNATS(t), servertest.Unique("DS")
		servertest.DropStream(t, stream)
		return "nats://" + addr + "?stream=" + stream
	}
}
