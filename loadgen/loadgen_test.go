package loadgen_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/loadgen"
	"github.com/ssehub/ssehub/loadgen/loadgentest"
)

// counts are the figures a faulty hub must produce exactly.
type counts struct {
	expected, delivered, distinct, lost, duplicated, outOfOrder, unexpected int64
	complete                                                                int
}

func countsOf(r *loadgen.Result) counts {
	return counts{r.Expected, r.Delivered, r.Distinct, r.Lost, r.Duplicated, r.OutOfOrder, r.Unexpected, r.Complete}
}

func TestRun_ReportsExactlyTheFaultsTheHubInjects(t *testing.T) {
	const subs, updates = 4, 50
	tests := []struct {
		name   string
		faults []loadgentest.Fault
		replay string
		want   counts
	}{
		{
			name: "a faithful hub delivers every update once and in order",
			want: counts{expected: subs * updates, delivered: subs * updates, distinct: subs * updates, complete: subs},
		},
		{
			name: "a dropped update is counted lost for that subscriber only",
			faults: []loadgentest.Fault{
				{Subscriber: 0, N: 7, Kind: loadgentest.Drop},
				{Subscriber: 2, N: 0, Kind: loadgentest.Drop},
				{Subscriber: 2, N: 49, Kind: loadgentest.Drop},
			},
			want: counts{expected: 200, delivered: 197, distinct: 197, lost: 3, complete: 2},
		},
		{
			name: "an update sent twice is counted duplicated, not out of order",
			faults: []loadgentest.Fault{
				{Subscriber: 1, N: 10, Kind: loadgentest.Duplicate},
				{Subscriber: 3, N: 49, Kind: loadgentest.Duplicate},
			},
			want: counts{expected: 200, delivered: 202, distinct: 200, duplicated: 2, complete: 4},
		},
		{
			name: "two swapped updates count one delivery out of order",
			faults: []loadgentest.Fault{
				{Subscriber: 0, N: 20, Kind: loadgentest.Swap},
				{Subscriber: 3, N: 3, Kind: loadgentest.Swap},
				{Subscriber: 3, N: 30, Kind: loadgentest.Swap},
			},
			want: counts{expected: 200, delivered: 200, distinct: 200, outOfOrder: 3, complete: 4},
		},
		{
			name: "drops, duplicates and swaps together add up",
			faults: []loadgentest.Fault{
				{Subscriber: 0, N: 1, Kind: loadgentest.Drop},
				{Subscriber: 0, N: 2, Kind: loadgentest.Duplicate},
				{Subscriber: 0, N: 3, Kind: loadgentest.Swap},
				{Subscriber: 1, N: 40, Kind: loadgentest.Swap},
				{Subscriber: 2, N: 41, Kind: loadgentest.Drop},
			},
			want: counts{expected: 200, delivered: 199, distinct: 198, lost: 2, duplicated: 1, outOfOrder: 2, complete: 2},
		},
		{
			name:   "replay from the first id expects every later update",
			replay: loadgen.ReplayFirst,
			faults: []loadgentest.Fault{{Subscriber: 1, N: 5, Kind: loadgentest.Drop}},
			want:   counts{expected: subs * (updates - 1), delivered: 195, distinct: 195, lost: 1, complete: 3},
		},
		{
			name:   "replay from the earliest expects every update",
			replay: loadgen.ReplayEarliest,
			faults: []loadgentest.Fault{{Subscriber: 0, N: 0, Kind: loadgentest.Duplicate}},
			want:   counts{expected: 200, delivered: 201, distinct: 200, duplicated: 1, complete: 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := loadgentest.Start(tt.faults...)
			defer hub.Close()
			res, err := loadgen.Run(context.Background(), loadgen.Config{
				HubURL:       hub.URL,
				Subscribers:  subs,
				Updates:      updates,
				Replay:       tt.replay,
				Payload:      100,
				DrainTimeout: 300 * time.Millisecond, // ends the runs that lose updates
				Timeout:      30 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := countsOf(res); got != tt.want {
				t.Errorf("counts = %+v\nwant     %+v", got, tt.want)
			}
			if res.Connected != subs || res.Published != updates {
				t.Errorf("connected %d, published %d; want %d, %d", res.Connected, res.Published, subs, updates)
			}
			wantStop := "complete"
			if tt.want.complete < subs {
				wantStop = "drain-timeout"
			}
			if res.Stop != wantStop {
				t.Errorf("stop = %q, want %q", res.Stop, wantStop)
			}
			if res.LatencyUS.Count != uint64(tt.want.delivered) {
				t.Errorf("latency samples = %d, want one per delivery (%d)", res.LatencyUS.Count, tt.want.delivered)
			}
			if res.ConnectUS.Count != subs {
				t.Errorf("connect samples = %d, want %d", res.ConnectUS.Count, subs)
			}
		})
	}
}

func TestRun_SlowSubscribersAreLeftOutOfTheOthersFigures(t *testing.T) {
	hub := loadgentest.Start()
	defer hub.Close()
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		HubURL: hub.URL, Subscribers: 3, Slow: 2, Updates: 20, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Slow != (loadgen.Slow{Subscribers: 2, Connected: 2}) {
		t.Errorf("slow = %+v, want 2 connected", res.Slow)
	}
	if res.Expected != 60 || res.Distinct != 60 || res.Connected != 3 || res.Stop != "complete" {
		t.Errorf("expected %d distinct %d connected %d stop %q; want 60, 60, 3, complete", res.Expected, res.Distinct, res.Connected, res.Stop)
	}
	if hub.Subscribers() != 5 {
		t.Errorf("hub saw %d subscribers, want 5", hub.Subscribers())
	}
}

func TestRun_ReadsTheHubProcessFigures(t *testing.T) {
	hub := loadgentest.Start()
	defer hub.Close()
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		HubURL: hub.URL, Subscribers: 2, Updates: 10, PID: os.Getpid(), Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := res.HubProcess
	if p == nil || p.PID != os.Getpid() || p.RSSStartBytes <= 0 || p.RSSEndBytes <= 0 || p.CPUSeconds < 0 {
		t.Fatalf("hub process = %+v, want this process's figures", p)
	}
}

func TestRun_StopsWithAnErrorWhenTheHubRefusesToPublish(t *testing.T) {
	hub := loadgentest.Start()
	hub.Token = "right"
	defer hub.Close()
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		HubURL: hub.URL, Subscribers: 1, Updates: 5, PublisherToken: "wrong", SubscriberToken: "right",
		DrainTimeout: 100 * time.Millisecond, Timeout: 30 * time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want the hub's 401", err)
	}
	if res == nil || res.Published != 0 || res.Lost != 5 {
		t.Fatalf("result = %+v, want nothing published and 5 lost", res)
	}
}

func TestRun_CountsSubscribersTheHubRefuses(t *testing.T) {
	hub := loadgentest.Start()
	hub.Token = "right"
	defer hub.Close()
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		HubURL: hub.URL, Subscribers: 3, Updates: 5, PublisherToken: "right", SubscriberToken: "wrong",
		DrainTimeout: 100 * time.Millisecond, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ConnectError != 3 || res.Connected != 0 || res.Lost != 15 || res.Stop != "ended" {
		t.Errorf("connect errors %d, connected %d, lost %d, stop %q; want 3, 0, 15, ended", res.ConnectError, res.Connected, res.Lost, res.Stop)
	}
	if len(res.Errors) == 0 || !strings.Contains(res.Errors[0], "401") {
		t.Errorf("errors = %q, want the hub's 401", res.Errors)
	}
}

func TestRun_IdleSubscribersStayConnectedForTheIdleTime(t *testing.T) {
	hub := loadgentest.Start()
	defer hub.Close()
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		HubURL: hub.URL, Subscribers: 5, Idle: 50 * time.Millisecond, PID: os.Getpid(), Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Connected != 5 || res.Expected != 0 || res.Stop != "complete" || res.ElapsedSecond < 0.05 {
		t.Errorf("connected %d expected %d stop %q elapsed %.3fs; want 5, 0, complete, ≥ 0.05s", res.Connected, res.Expected, res.Stop, res.ElapsedSecond)
	}
}

func TestRun_RejectsABadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  loadgen.Config
		want string
	}{
		{"a missing hub URL", loadgen.Config{}, "no hub URL"},
		{"a hub URL without a scheme", loadgen.Config{HubURL: "localhost:80"}, "want http"},
		{"negative subscribers", loadgen.Config{HubURL: "http://x", Subscribers: -1}, "negative"},
		{"an unknown replay mode", loadgen.Config{HubURL: "http://x", Replay: "last"}, `replay "last"`},
		{"too many source addresses", loadgen.Config{HubURL: "http://x", SourceAddrs: 300}, "at most 254"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadgen.Run(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// TestRun_ProgressReportsTheRunAsItGoes reports progress as often as it can
// through a replay run (under -race this also checks that the reporter
// reads nothing the run is still setting up) and checks the last report.
func TestRun_ProgressReportsTheRunAsItGoes(t *testing.T) {
	hub := loadgentest.Start()
	defer hub.Close()
	var last loadgen.Progress
	var reports int
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		HubURL: hub.URL, Subscribers: 20, Updates: 50, Replay: loadgen.ReplayFirst, Timeout: 30 * time.Second,
		ProgressInterval: 50 * time.Microsecond,
		Progress:         func(p loadgen.Progress) { last = p; reports++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stop != "complete" || reports < 2 || last.Phase != "done" || last.Delivered != 20*49 || last.Published != 50 {
		t.Errorf("stop %q after %d reports, last %+v; want complete, done with 980 delivered and 50 published", res.Stop, reports, last)
	}
}
