package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ssehub/ssehub/loadgen/loadgentest"
)

func TestBench_JSONReportsExactlyTheInjectedFaults(t *testing.T) {
	hub := loadgentest.Start(
		loadgentest.Fault{Subscriber: 0, N: 3, Kind: loadgentest.Drop},
		loadgentest.Fault{Subscriber: 1, N: 4, Kind: loadgentest.Duplicate},
		loadgentest.Fault{Subscriber: 2, N: 5, Kind: loadgentest.Swap},
	)
	// The documented top-level fields of ssehub bench -json.
	benchJSONFields := []string{
		"hub", "topic", "subscribers", "requested", "connected", "connect_errors", "slow", "updates",
		"published", "rate", "payload_bytes", "source_addrs", "expected", "delivered", "distinct", "lost",
		"duplicated", "out_of_order", "unexpected", "complete_subscribers", "stream_errors",
		"publish_seconds", "delivery_seconds", "delivered_per_second", "published_per_second",
		"latency_us", "connect_us", "hub_process", "generator", "open_files", "stop", "elapsed_seconds",
	}
	defer hub.Close()
	code, stdout, stderr := runMain(t, "", nil, "bench", "-hub", hub.URL, "-subscribers", "3",
		"-updates", "30", "-payload", "120", "-drain-timeout", "300ms", "-pid", itoa(os.Getpid()), "-json", "-quiet")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &fields); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	for _, f := range benchJSONFields {
		if _, ok := fields[f]; !ok {
			t.Errorf("JSON lacks the documented field %q", f)
		}
	}
	if _, ok := fields["hub_write_delay"]; ok {
		t.Errorf("hub_write_delay reported for a hub that serves no metrics: %s", fields["hub_write_delay"])
	}
	var res struct {
		Expected, Delivered, Distinct, Lost, Duplicated int64
		OutOfOrder                                      int64 `json:"out_of_order"`
		Connected                                       int
		Slow                                            struct{ Subscribers, Connected int }
		PayloadBytes                                    int                   `json:"payload_bytes"`
		LatencyUS                                       struct{ Count int64 } `json:"latency_us"`
		HubProcess                                      struct{ PID int }     `json:"hub_process"`
		Stop                                            string
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	got := [6]int64{res.Expected, res.Delivered, res.Distinct, res.Lost, res.Duplicated, res.OutOfOrder}
	if want := [6]int64{90, 90, 89, 1, 1, 1}; got != want {
		t.Errorf("expected, delivered, distinct, lost, duplicated, out of order = %v, want %v", got, want)
	}
	if res.Connected != 3 || res.Slow.Subscribers != 0 || res.PayloadBytes != 120 ||
		res.LatencyUS.Count != 90 || res.HubProcess.PID != os.Getpid() || res.Stop != "drain-timeout" {
		t.Errorf("result = %+v", res)
	}
}

func TestBench_SummaryIsReadable(t *testing.T) {
	hub := loadgentest.Start()
	defer hub.Close()
	code, stdout, stderr := runMain(t, "", nil, "bench", "-hub", hub.URL, "-subscribers", "2", "-updates", "10", "-rate", "1000")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"stopped:        complete", "delivered:      20 of 20 expected (100.000%)", "lost 0   duplicated 0   out of order 0", "latency:        p50", "open files:     limit"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "done") || !strings.Contains(stderr, "100%") {
		t.Errorf("stderr has no final progress line: %q", stderr)
	}
}

func TestBench_PlotWritesAPNG(t *testing.T) {
	hub := loadgentest.Start()
	defer hub.Close()
	path := filepath.Join(t.TempDir(), "latency.png")
	code, _, stderr := runMain(t, "", nil, "bench", "-hub", hub.URL, "-subscribers", "3", "-updates", "40", "-plot", path, "-quiet")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Errorf("plot is %v, want a readable size", b)
	}
}

func TestBench_SaysWhenTheOpenFilesLimitCapsSubscribers(t *testing.T) {
	hub := loadgentest.Start()
	defer hub.Close()
	// bash lowers both limits to 100 before running ssehub, which cannot
	// raise them back: 100 − 32 kept for itself leaves 68 subscribers.
	cmd := exec.Command("bash", "-c", `ulimit -n 100 && exec "$@"`, "bash",
		binary(t), "bench", "-hub", hub.URL, "-subscribers", "200", "-updates", "5", "-quiet", "-json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	want := "the open-files limit (100) caps subscribers at 68 (asked for 200)"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr = %q, want it to say %q", stderr.String(), want)
	}
	var res struct {
		Subscribers, Requested, Connected int
		OpenFiles                         struct {
			Limit  int
			Capped bool
		} `json:"open_files"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if res.Subscribers != 68 || res.Requested != 200 || res.Connected != 68 || res.OpenFiles.Limit != 100 || !res.OpenFiles.Capped {
		t.Errorf("result = %+v, want 68 of 200 subscribers under a capped limit of 100", res)
	}
}

func TestBench_BadFlagsExitTwoWithAClearMessage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"an unknown flag", []string{"-frobnicate"}, "flag provided but not defined: -frobnicate"},
		{"a negative subscriber count", []string{"-subscribers", "-5"}, "must not be negative"},
		{"no subscriber at all", []string{"-subscribers", "0"}, "need at least one subscriber"},
		{"a negative rate", []string{"-rate", "-1"}, "-rate -1: must not be negative"},
		{"an unknown replay mode", []string{"-replay", "last"}, `-replay "last": want first or earliest`},
		{"replay from the first of one update", []string{"-replay", "first", "-updates", "1"}, "needs -updates 2 or more"},
		{"a hub that is not a URL", []string{"-hub", "localhost:8080"}, `-hub "localhost:8080": want an http:// or https:// URL`},
		{"a stray argument", []string{"now"}, `unexpected argument "now"`},
		{"too many source addresses", []string{"-source-addrs", "300"}, "at most 254"},
		{"appenders without a Durable Streams server", []string{"-appenders", "4"}, "give its stream root with -durable"},
		{"appenders with a reader's flag", []string{"-durable", "http://127.0.0.1:1/v1/stream/", "-appenders", "4", "-subscribers", "10"}, "-subscribers: not used when -appenders measures writes"},
		{"no stream to append to", []string{"-durable", "http://127.0.0.1:1/v1/stream/", "-appenders", "4", "-streams", "0"}, "-streams at least 1"},
		{"a Durable Streams replay from the first id", []string{"-durable", "http://127.0.0.1:1/v1/stream/", "-replay", "first"}, "only -replay earliest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runMain(t, "", nil, append([]string{"bench"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d saying %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}

func TestBench_MeasuresTheRealHubEndToEnd(t *testing.T) {
	const key = "bench-e2e-secret"
	s := startServer(t, "-jwt-key", key, "-history-size", "100")
	code, stdout, stderr := runMain(t, "", nil, "bench", "-hub", s.url+"/.well-known/mercure", "-jwt-key", key,
		"-subscribers", "20", "-updates", "50", "-pid", itoa(s.cmd.Process.Pid), "-json", "-quiet")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Expected, Distinct, Lost, Duplicated int64
		OutOfOrder                           int64 `json:"out_of_order"`
		HubProcess                           struct {
			RSSStartBytes int64 `json:"rss_start_bytes"`
		} `json:"hub_process"`
		HubWriteDelay *struct {
			Writes uint64
			P99    *float64 `json:"p99_at_most_ms"`
		} `json:"hub_write_delay"`
		Generator struct {
			CPUSeconds float64 `json:"cpu_seconds"`
			CPUs       int
		}
		Stop string
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Expected != 1000 || res.Distinct != 1000 || res.Lost != 0 || res.Duplicated != 0 || res.OutOfOrder != 0 || res.Stop != "complete" || res.HubProcess.RSSStartBytes <= 0 {
		t.Errorf("result = %+v, want all 1000 deliveries exactly once, in order, with the hub's memory", res)
	}
	// Every subscriber got at least one write, and no write carried less
	// than one update; the hub's metrics count exactly these writes.
	if d := res.HubWriteDelay; d == nil || d.Writes < 20 || d.Writes > 1000 || d.P99 == nil {
		t.Errorf("hub_write_delay = %+v, want between 20 and 1000 writes read from the hub's metrics", d)
	}
	if res.Generator.CPUSeconds <= 0 || res.Generator.CPUs < 1 {
		t.Errorf("generator = %+v, want its CPU time", res.Generator)
	}

	// Replay from the first id: every subscriber gets the other 49.
	code, stdout, stderr = runMain(t, "", nil, "bench", "-hub", s.url+"/.well-known/mercure", "-jwt-key", key,
		"-subscribers", "5", "-updates", "50", "-replay", "first", "-json", "-quiet")
	if code != exitOK {
		t.Fatalf("replay: exit %d: %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Expected != 245 || res.Distinct != 245 || res.Stop != "complete" {
		t.Errorf("replay result = %+v, want 245 of 245", res)
	}
}

func TestBench_MeasuresTheRealDurableStreamsServerEndToEnd(t *testing.T) {
	s := startServer(t)
	root := s.url + "/v1/stream/"
	pid := itoa(s.cmd.Process.Pid)
	code, stdout, stderr := runMain(t, "", nil, "bench", "-durable", root, "-subscribers", "10", "-updates", "30", "-pid", pid, "-json", "-quiet")
	if code != exitOK {
		t.Fatalf("readers: exit %d: %s", code, stderr)
	}
	var readers struct {
		Protocol                 string
		Expected, Distinct, Lost int64
		OutOfOrder               int64 `json:"out_of_order"`
		Stop                     string
		HubProcess               *struct{ PID int } `json:"hub_process"`
	}
	if err := json.Unmarshal([]byte(stdout), &readers); err != nil {
		t.Fatal(err)
	}
	if readers.Protocol != "durable" || readers.Expected != 300 || readers.Distinct != 300 || readers.OutOfOrder != 0 || readers.Stop != "complete" || readers.HubProcess == nil {
		t.Errorf("readers = %+v, want all 300 deliveries in order, with the server's figures", readers)
	}

	code, stdout, stderr = runMain(t, "", nil, "bench", "-durable", root, "-appenders", "4", "-streams", "5", "-updates", "40", "-pid", pid, "-json", "-quiet")
	if code != exitOK {
		t.Fatalf("appends: exit %d: %s", code, stderr)
	}
	var appends struct {
		Created, Appended int64
		Stop              string
		Server            *struct {
			RSSPerStream float64 `json:"rss_per_stream_bytes"`
			CPUSeconds   float64 `json:"cpu_seconds"`
		} `json:"server_process"`
	}
	if err := json.Unmarshal([]byte(stdout), &appends); err != nil {
		t.Fatal(err)
	}
	if appends.Created != 5 || appends.Appended != 40 || appends.Stop != "complete" || appends.Server == nil {
		t.Errorf("appends = %+v, want 5 streams, 40 appends and the server's figures", appends)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// On its defaults (the bolt store, no history flag), the hub keeps enough
// history that subscribers reconnecting after missing 5,000 updates get
// every one of them (issue 14: with a history of 1,000 updates by count
// they got none).
func TestServe_DefaultsReplayEveryOneOf5000MissedUpdates(t *testing.T) {
	const key = "defaults-secret"
	// The default store in a memory file system: the same bolt file and
	// bounds, without 5,001 disk flushes (tens of seconds on a busy disk).
	dir, err := os.MkdirTemp("/dev/shm", "ssehub-defaults-")
	if err != nil {
		dir = t.TempDir()
	} else {
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	s := startServerIn(t, dir, "-jwt-key", key)
	code, stdout, stderr := runMain(t, "", nil, "bench", "-hub", s.url+"/.well-known/mercure", "-jwt-key", key,
		"-subscribers", "2", "-updates", "5001", "-replay", "first", "-json", "-quiet")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Expected, Distinct, Lost int64
		Stop                     string
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Expected != 10000 || res.Distinct != 10000 || res.Lost != 0 || res.Stop != "complete" {
		t.Fatalf("replay after 5,000 missed updates = %+v, want 10000 of 10000", res)
	}
}
