package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssehub/ssehub/loadgen"
)

const benchSynopsis = `Usage: ssehub bench [flags]

Load-tests a Mercure hub (ssehub's or any other): connects -subscribers to one
topic, publishes -updates numbered, timestamped updates, and reports delivered
against expected, lost, duplicated and out-of-order updates, delivery latency,
connect time and — with -pid — the hub's CPU time and memory.

Publishing starts once every subscriber has received its response headers
(ssehub's hub registers a subscription before it sends them). The run ends when
every subscriber has every update, when nothing arrived for -drain-timeout, or
after -timeout.

With -durable, it load-tests a Durable Streams server instead (ssehub's under
/v1/stream/, or any other): it creates a text/plain stream, reads it live over
SSE with -subscribers readers (offset=now&live=sse), appends -updates
timestamped lines at -rate and reports the same figures, latency being from
the append's start to the reader's receipt (readers do not reconnect: keep the
run shorter than the server's SSE lifetime, ssehub serve -durable-sse-duration,
60s by default). With -appenders N it measures
writes instead: it creates -streams streams, then N writers append -updates
times in all (round-robin over the streams, each waiting for its answer) and
it reports appends per second, append latency and, with -pid, the server's
CPU per append and memory per stream.

Examples:

  ssehub bench -hub http://127.0.0.1:8080/.well-known/mercure -jwt-key secret \
    -subscribers 1000 -updates 2000 -pid $(pgrep -n ssehub) -plot latency.png
  ssehub bench -subscribers 100 -updates 5000 -replay first -json
  ssehub bench -durable http://127.0.0.1:8080/v1/stream/ -subscribers 1000 \
    -updates 500 -rate 50 -pid $(pgrep -n ssehub)
  ssehub bench -durable http://127.0.0.1:8080/v1/stream/ -appenders 64 \
    -streams 1000 -updates 20000 -pid $(pgrep -n ssehub)
  ssehub bench -durable http://127.0.0.1:8080/v1/stream/ -appenders 64 \
    -streams 10000 -updates 0 -pid $(pgrep -n ssehub)     # memory per idle stream`

// benchFlags are the parsed flags of ssehub bench.
type benchFlags struct {
	cfg        loadgen.Config
	jwtKey     string
	issuer     string // draft-08 tokens' iss
	audience   string // draft-08 tokens' aud
	jsonOut    bool
	plotPath   string
	quiet      bool
	cpuProfile string
	metricsURL string
	durable    string
	appends    loadgen.AppendConfig
}

func parseBenchFlags(m *Main, args []string) (*benchFlags, error) {
	f := &benchFlags{}
	c := &f.cfg
	fs := m.newFlagSet("bench", benchSynopsis)
	fs.StringVar(&c.HubURL, "hub", "http://127.0.0.1:8080/.well-known/mercure", "the hub's URL")
	fs.StringVar(&c.Topic, "topic", "", "topic to publish and subscribe to, or with -durable the stream's name\n(default: one unique to the run)")
	fs.StringVar(&f.durable, "durable", "", "benchmark the Durable Streams server whose stream root is this `URL`\n(e.g. http://127.0.0.1:8080/v1/stream/) instead of the Mercure hub at -hub")
	fs.IntVar(&f.appends.Appenders, "appenders", 0, "with -durable: measure appends instead of readers, from this many concurrent writers")
	fs.IntVar(&f.appends.Streams, "streams", 1, "with -appenders: streams to create and spread the appends over")
	fs.IntVar(&c.Subscribers, "subscribers", 100, "subscribers that read and are measured")
	fs.IntVar(&c.Slow, "slow", 0, "extra subscribers that connect but never read (slow consumers);\ntheir figures are kept out of the others'")
	fs.IntVar(&c.Updates, "updates", 1000, "updates to publish")
	fs.Float64Var(&c.Rate, "rate", 0, "updates per second; 0 publishes as fast as the hub accepts them")
	fs.IntVar(&c.Payload, "payload", loadgen.DefaultPayload, "size of each update's data, in bytes")
	fs.StringVar(&c.Draft, "draft", "07", "Mercure protocol the subscribers speak: 07 (topic=, Last-Event-ID) or 08 (match=,\nlast_event_id=; -jwt-key then mints draft-08 access tokens of -jwt-issuer for -jwt-audience)")
	fs.StringVar(&f.issuer, "jwt-issuer", "", "with -draft 08 and -jwt-key: the iss of the tokens minted, an issuer the hub trusts")
	fs.StringVar(&f.audience, "jwt-audience", "", "with -draft 08 and -jwt-key: the aud of the tokens minted, the hub's resource identifier\n(default: -hub)")
	fs.StringVar(&c.Replay, "replay", "", "publish every update first, then subscribe with Last-Event-ID:\n\"first\" (the first update's id: expects the other updates-1) or\n\"earliest\" (the whole history: expects all updates)")
	fs.IntVar(&c.SourceAddrs, "source-addrs", 0, "loopback source addresses 127.0.0.1..127.0.0.K to spread subscribers over\n(about 28,000 connections fit per address); 0 picks one per 25,000")
	fs.StringVar(&f.jwtKey, "jwt-key", "", "HS256 secret: mint a publisher token ({\"mercure\":{\"publish\":[\"*\"]}})\nand a subscriber token ({\"mercure\":{\"subscribe\":[\"*\"]}})")
	fs.StringVar(&c.PublisherToken, "publisher-token", "", "bearer token to publish with (overrides -jwt-key)")
	fs.StringVar(&c.SubscriberToken, "subscriber-token", "", "bearer token to subscribe with (overrides -jwt-key);\nwithout either, subscribers are anonymous")
	fs.DurationVar(&c.Idle, "idle", 0, "keep the subscribers connected this long before publishing\n(for memory per idle subscriber: use with -updates 0 and -pid)")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", loadgen.DefaultConnectTimeout, "longest wait for the subscribers' response headers")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", loadgen.DefaultDrainTimeout, "end the run when no update arrived for this long")
	fs.DurationVar(&c.Timeout, "timeout", loadgen.DefaultTimeout, "longest the whole run may take")
	fs.IntVar(&c.ConnectConcurrency, "connect-concurrency", loadgen.DefaultConnectConcurrency, "connections opened at once")
	fs.BoolVar(&c.HTTP2, "h2", false, "subscribe over HTTP/2: negotiated over TLS for an https:// hub, cleartext\n(h2c, as ssehub serve -h2c speaks it) for an http:// one")
	fs.IntVar(&c.StreamsPerConn, "h2-streams", 1, "with -h2, subscribers sharing one connection (1: each its own, like distinct\nusers; more: like one browser's tabs)")
	fs.BoolVar(&c.InsecureSkipVerify, "insecure", false, "accept any certificate from an https:// hub (e.g. ssehub serve -tls-self-signed)")
	fs.IntVar(&c.PID, "pid", 0, "the hub's process id: report its CPU time and memory (Linux /proc)")
	fs.StringVar(&f.metricsURL, "metrics", "", "the hub's Prometheus metrics URL: an ssehub hub's\nssehub_write_delay_seconds gives its own share of the latency\n(default: /metrics on the -hub origin; off reads none)")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON object instead of the summary")
	fs.StringVar(&f.plotPath, "plot", "", "draw the latency distribution to this PNG file")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress display")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile to this file\n(to tell whether the generator or the hub limits a run)")
	if err := m.parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q: ssehub bench takes only flags", fs.Arg(0))}
	}
	if f.durable != "" {
		c.Protocol, c.HubURL = loadgen.ProtocolDurable, f.durable
		if f.metricsURL == "" {
			f.metricsURL = "off" // the write-delay histogram is the Mercure hub's
		}
	}
	if f.appends.Appenders != 0 {
		return f, f.validateAppends(fs)
	}
	switch f.metricsURL {
	case "":
		c.MetricsURL = loadgen.MetricsURL(c.HubURL)
	case "off":
	default:
		c.MetricsURL = f.metricsURL
	}
	switch {
	case c.Subscribers < 0 || c.Slow < 0 || c.Updates < 0 || c.Payload < 0 || c.SourceAddrs < 0:
		return nil, usageError{errors.New("-subscribers, -slow, -updates, -payload and -source-addrs must not be negative")}
	case c.Subscribers == 0 && c.Slow == 0:
		return nil, usageError{errors.New("-subscribers: need at least one subscriber")}
	case c.Rate < 0:
		return nil, usageError{fmt.Errorf("-rate %g: must not be negative", c.Rate)}
	case c.Replay != loadgen.ReplayNone && c.Replay != loadgen.ReplayFirst && c.Replay != loadgen.ReplayEarliest:
		return nil, usageError{fmt.Errorf("-replay %q: want first or earliest", c.Replay)}
	case c.Protocol == loadgen.ProtocolDurable && c.Replay == loadgen.ReplayFirst:
		return nil, usageError{errors.New("-replay first: with -durable, only -replay earliest (offset=-1)")}
	case c.Replay == loadgen.ReplayFirst && c.Updates < 2:
		return nil, usageError{errors.New("-replay first needs -updates 2 or more")}
	case c.SourceAddrs > 254:
		return nil, usageError{fmt.Errorf("-source-addrs %d: at most 254", c.SourceAddrs)}
	case !strings.HasPrefix(c.HubURL, "http://") && !strings.HasPrefix(c.HubURL, "https://"):
		return nil, usageError{fmt.Errorf("-hub %q: want an http:// or https:// URL", c.HubURL)}
	}
	return f, nil
}

// validateAppends checks the flags of an append run (-durable with
// -appenders) and copies the shared ones into f.appends.
func (f *benchFlags) validateAppends(fs *flag.FlagSet) error {
	a, c := &f.appends, &f.cfg
	var readerFlags []string
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "subscribers", "slow", "rate", "replay", "idle", "h2", "h2-streams", "source-addrs", "jwt-key", "publisher-token", "subscriber-token", "topic":
			readerFlags = append(readerFlags, "-"+fl.Name)
		}
	})
	switch {
	case f.durable == "":
		return usageError{errors.New("-appenders: measures a Durable Streams server, give its stream root with -durable")}
	case len(readerFlags) > 0:
		return usageError{fmt.Errorf("%s: not used when -appenders measures writes", strings.Join(readerFlags, ", "))}
	case a.Appenders < 0 || a.Streams < 1:
		return usageError{errors.New("-appenders must be positive and -streams at least 1")}
	case c.Updates < 0 || c.Payload < 0:
		return usageError{errors.New("-updates and -payload must not be negative")}
	case !strings.HasPrefix(f.durable, "http://") && !strings.HasPrefix(f.durable, "https://"):
		return usageError{fmt.Errorf("-durable %q: want an http:// or https:// URL", f.durable)}
	}
	a.URL, a.Appends, a.Payload, a.PID, a.Timeout = f.durable, c.Updates, c.Payload, c.PID, c.Timeout
	return nil
}

func runBench(ctx context.Context, m *Main, args []string) error {
	f, err := parseBenchFlags(m, args)
	if err != nil {
		return err
	}
	if f.appends.Appenders > 0 {
		return runAppendBench(ctx, m, f)
	}
	c := &f.cfg
	if f.jwtKey != "" {
		mint := func() (string, string, error) { return loadgen.Tokens(f.jwtKey, c.Timeout+time.Hour) }
		if c.Draft == "08" {
			mint = func() (string, string, error) {
				return tokens08(f.jwtKey, f.issuer, cmp.Or(f.audience, c.HubURL), c.Timeout+time.Hour)
			}
		}
		pub, sub, err := mint()
		if err != nil {
			return err
		}
		c.PublisherToken = cmp.Or(c.PublisherToken, pub)
		c.SubscriberToken = cmp.Or(c.SubscriberToken, sub)
	}

	// Raise the open-files limit, and cap the subscribers when it is not
	// enough.
	files, err := loadgen.RaiseOpenFiles()
	if err != nil {
		fmt.Fprintf(m.Stderr, "ssehub bench: %v\n", err)
	}
	requested := c.Subscribers
	if limit := loadgen.MaxConnections(files.Limit); files.Limit > 0 && c.Subscribers+c.Slow > limit {
		files.Capped = true
		c.Slow = min(c.Slow, limit)
		c.Subscribers = max(limit-c.Slow, 0)
		fmt.Fprintf(m.Stderr, "ssehub bench: the open-files limit (%d) caps subscribers at %d (asked for %d) and slow subscribers at %d; raise the hard limit (ulimit -Hn) to run more\n",
			files.Limit, c.Subscribers, requested, c.Slow)
		if c.Subscribers == 0 && c.Slow == 0 {
			return fmt.Errorf("the open-files limit (%d) leaves room for no subscriber", files.Limit)
		}
	}

	var res *loadgen.Result
	var runErr error
	if err := m.measure(f, &c.Progress, func() { res, runErr = loadgen.Run(ctx, *c) }); err != nil {
		return err
	}
	if res == nil {
		return runErr
	}
	res.Requested = requested
	res.OpenFiles = files

	if f.plotPath != "" {
		if err := writePlotFile(f.plotPath, res); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	if f.jsonOut {
		if err := writeJSON(m.Stdout, res); err != nil {
			return err
		}
	} else {
		printSummary(m.Stdout, res, f.plotPath)
	}
	return runErr
}

// writeJSON writes a run's result as indented JSON, -json's output.
func writeJSON(w io.Writer, res any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("writing the JSON result: %w", err)
	}
	return nil
}

func writePlotFile(path string, res *loadgen.Result) error {
	title := fmt.Sprintf("%d subscribers × %d updates of %d B — %d deliveries", res.Subscribers, res.Updates, res.PayloadBytes, res.Delivered)
	return writeSnapshotPlot(path, res.Latency(), title)
}

// writeSnapshotPlot draws the latency distribution s to a PNG file at path.
func writeSnapshotPlot(path string, s loadgen.Snapshot, title string) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating the plot file: %w", err)
	}
	err = loadgen.WritePlot(out, s, title)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %w", path, cerr)
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

// printSummary writes the readable report of res.
func printSummary(w io.Writer, r *loadgen.Result, plotPath string) {
	rate := "as fast as possible"
	if r.Rate > 0 {
		rate = fmt.Sprintf("at %g/s", r.Rate)
	}
	fmt.Fprintf(w, "ssehub bench → %s\n", r.Hub)
	if r.Protocol == loadgen.ProtocolDurable {
		fmt.Fprintf(w, "  stream:         %s (readers over SSE, appends as updates)\n", r.Topic)
	}
	fmt.Fprintf(w, "  %d subscribers", r.Subscribers)
	if r.Slow.Subscribers > 0 {
		fmt.Fprintf(w, " (+%d slow)", r.Slow.Subscribers)
	}
	fmt.Fprintf(w, ", %d updates of %d bytes %s", r.Updates, r.PayloadBytes, rate)
	if r.Replay != "" {
		fmt.Fprintf(w, ", replayed from %s", r.Replay)
	}
	fmt.Fprintf(w, ", %d source address(es)\n", r.SourceAddrs)
	fmt.Fprintf(w, "  stopped:        %s after %.2f s\n", r.Stop, r.ElapsedSecond)
	fmt.Fprintf(w, "  connected:      %d of %d (%d failed)   connect p50 %s  p99 %s  max %s\n",
		r.Connected, r.Subscribers, r.ConnectError, us(r.ConnectUS.P50), us(r.ConnectUS.P99), us(r.ConnectUS.Max))
	if r.Slow.Subscribers > 0 {
		fmt.Fprintf(w, "  slow:           %d of %d connected, never read (left out of every figure below)\n", r.Slow.Connected, r.Slow.Subscribers)
	}
	fmt.Fprintf(w, "  published:      %d of %d in %.3f s (%.0f/s)\n", r.Published, r.Updates, r.PublishSeconds, r.PublishedPerSecond)
	pct := 100.0
	if r.Expected > 0 {
		pct = 100 * float64(r.Distinct) / float64(r.Expected)
	}
	fmt.Fprintf(w, "  delivered:      %d of %d expected (%.3f%%), %.0f deliveries/s over %.3f s\n",
		r.Distinct, r.Expected, pct, r.DeliveredPerSecond, r.DeliverySeconds)
	fmt.Fprintf(w, "  faults:         lost %d   duplicated %d   out of order %d   unexpected %d   complete subscribers %d of %d\n",
		r.Lost, r.Duplicated, r.OutOfOrder, r.Unexpected, r.Complete, r.Subscribers)
	l := r.LatencyUS
	fmt.Fprintf(w, "  latency:        p50 %s   p90 %s   p99 %s   p99.9 %s   max %s   (%d samples)\n",
		us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max), l.Count)
	if h := r.HubProcess; h != nil {
		fmt.Fprintf(w, "  hub (pid %d):  CPU %.2f s = %.2f µs per delivery   RSS %s → %s → %s (%+.1f KiB per subscriber)\n",
			h.PID, h.CPUSeconds, h.CPUPerDeliveryUS, mib(h.RSSStartBytes), mib(h.RSSReadyBytes), mib(h.RSSEndBytes), h.RSSPerSubscriberB/1024)
	}
	if d := r.HubWriteDelay; d != nil {
		at := func(v *float64) string {
			if v == nil {
				return fmt.Sprintf("> %s", us(d.MaxMS*1000))
			}
			return "≤ " + us(*v*1000)
		}
		fmt.Fprintf(w, "  hub's share:    publication to write p50 %s   p99 %s   (%d writes; ssehub_write_delay_seconds)\n", at(d.P50MS), at(d.P99MS), d.Writes)
	}
	if g := r.Generator; g != nil {
		fmt.Fprintf(w, "  generator:      CPU %.2f s, %.0f%% of its %d CPU(s)\n", g.CPUSeconds, 100*g.Busy, g.CPUs)
		if g.Saturated {
			fmt.Fprintf(w, "  warning:        the load generator was saturated: it read behind the hub, and the latency above includes its own queueing\n")
		}
	}
	of := r.OpenFiles
	note := ""
	if of.Raised {
		note = " (raised to the hard limit)"
	}
	if of.Capped {
		note += fmt.Sprintf("; it capped subscribers at %d of %d asked", r.Subscribers, r.Requested)
	}
	fmt.Fprintf(w, "  open files:     limit %d%s\n", of.Limit, note)
	if plotPath != "" {
		fmt.Fprintf(w, "  plot:           %s\n", plotPath)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error:          %s\n", e)
	}
}

// us formats microseconds.
func us(v float64) string {
	switch {
	case v < 1000:
		return fmt.Sprintf("%.0f µs", v)
	case v < 1e6:
		return fmt.Sprintf("%.2f ms", v/1e3)
	default:
		return fmt.Sprintf("%.2f s", v/1e6)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// newProgressPrinter returns a Progress callback drawing a bar on w: redrawn
// in place with \r when w is a terminal, otherwise a line every 5 seconds.
func newProgressPrinter(w io.Writer) func(loadgen.Progress) {
	tty := isTerminal(w)
	var lastLine time.Time
	return func(p loadgen.Progress) {
		if !tty {
			if p.Phase != "done" && time.Since(lastLine) < 5*time.Second {
				return
			}
			lastLine = time.Now()
		}
		var frac float64
		var what string
		switch p.Phase {
		case "connect":
			frac = ratio(int64(p.Connected), int64(p.Subscribers))
			what = fmt.Sprintf("connected %d/%d", p.Connected, p.Subscribers)
		case "create":
			frac = ratio(int64(p.Connected), int64(p.Subscribers))
			what = fmt.Sprintf("created %d/%d streams", p.Connected, p.Subscribers)
		case "append":
			frac = ratio(int64(p.Published), int64(p.Updates))
			what = fmt.Sprintf("appended %d/%d", p.Published, p.Updates)
		case "publish-history":
			frac = ratio(int64(p.Published), int64(p.Updates))
			what = fmt.Sprintf("published %d/%d", p.Published, p.Updates)
		case "idle":
			frac = 1
			what = fmt.Sprintf("connected %d/%d, idle", p.Connected, p.Subscribers)
		default:
			frac = ratio(p.Delivered, p.Expected)
			what = fmt.Sprintf("published %d/%d, delivered %d/%d", p.Published, p.Updates, p.Delivered, p.Expected)
		}
		const width = 30
		filled := int(frac * width)
		bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
		line := fmt.Sprintf("%-7s %s %3.0f%%  %s  %.1fs", p.Phase, bar, 100*frac, what, p.Elapsed.Seconds())
		if tty {
			fmt.Fprintf(w, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(w, line)
		}
	}
}

func finishProgress(w io.Writer) {
	if isTerminal(w) {
		fmt.Fprintln(w)
	}
}

func ratio(a, b int64) float64 {
	if b <= 0 {
		return 1
	}
	return min(max(float64(a)/float64(b), 0), 1)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// measure calls run under the generator's CPU profile (-cpuprofile) and,
// unless -quiet, with a progress bar on standard error set in *progress.
func (m *Main) measure(f *benchFlags, progress *func(loadgen.Progress), run func()) error {
	if f.cpuProfile != "" {
		stop, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if !f.quiet {
		*progress = newProgressPrinter(m.Stderr)
		defer finishProgress(m.Stderr)
	}
	run()
	return nil
}

// runAppendBench runs ssehub bench -durable … -appenders N.
func runAppendBench(ctx context.Context, m *Main, f *benchFlags) error {
	a := f.appends
	var res *loadgen.AppendResult
	var runErr error
	if err := m.measure(f, &a.Progress, func() { res, runErr = loadgen.RunAppends(ctx, a) }); err != nil {
		return err
	}
	if res == nil {
		return runErr
	}
	if f.plotPath != "" && res.Appended > 0 {
		title := fmt.Sprintf("%d appends of %d B by %d writers into %d stream(s) — append latency", res.Appended, res.PayloadBytes, res.Appenders, res.Created)
		if err := writeSnapshotPlot(f.plotPath, res.Latency(), title); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	if f.jsonOut {
		if err := writeJSON(m.Stdout, res); err != nil {
			return err
		}
		return runErr
	}
	w := m.Stdout
	fmt.Fprintf(w, "ssehub bench → %s (Durable Streams appends)\n", res.URL)
	fmt.Fprintf(w, "  %d appends of %d bytes by %d concurrent writers into %d stream(s)\n", res.Appends, res.PayloadBytes, res.Appenders, res.Streams)
	fmt.Fprintf(w, "  stopped:        %s after %.2f s\n", res.Stop, res.ElapsedSecond)
	fmt.Fprintf(w, "  created:        %d streams in %.3f s\n", res.Created, res.CreateSeconds)
	fmt.Fprintf(w, "  appended:       %d of %d (%d refused) in %.3f s: %.0f appends/s\n", res.Appended, res.Appends, res.Failed, res.AppendSeconds, res.AppendsPerSecond)
	l := res.LatencyUS
	fmt.Fprintf(w, "  latency:        p50 %s   p90 %s   p99 %s   max %s   (request to acknowledgement, %d appends)\n", us(l.P50), us(l.P90), us(l.P99), us(l.Max), l.Count)
	if p := res.Server; p != nil {
		fmt.Fprintf(w, "  server (pid %d): CPU %.2f s = %.1f µs per append   RSS %s → %s → %s (%+.0f B per stream)\n",
			p.PID, p.CPUSeconds, p.CPUPerAppendUS, mib(p.RSSStartBytes), mib(p.RSSCreateBytes), mib(p.RSSEndBytes), p.RSSPerStreamB)
	}
	if g := res.Generator; g != nil {
		fmt.Fprintf(w, "  generator:      CPU %.2f s, %.0f%% of its %d CPU(s)\n", g.CPUSeconds, 100*g.Busy, g.CPUs)
	}
	if f.plotPath != "" {
		fmt.Fprintf(w, "  plot:           %s\n", f.plotPath)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "  error:          %s\n", e)
	}
	return runErr
}

// tokens08 mints HS256 draft-08 access tokens of issuer for audience, one
// granting publish and one subscribe on every topic, valid for ttl.
func tokens08(key, issuer, audience string, ttl time.Duration) (publisher, subscriber string, err error) {
	sign := func(spec accessTokenSpec) (string, error) {
		spec.issuer, spec.audience, spec.clientID, spec.ttl = issuer, audience, "ssehub-bench", ttl
		claims, err := claims08(spec)
		if err != nil {
			return "", err
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		tok.Header["typ"] = "at+jwt" // RFC 9068 §2.1
		s, err := tok.SignedString([]byte(key))
		if err != nil {
			return "", fmt.Errorf("signing a draft-08 token: %w", err)
		}
		return s, nil
	}
	if publisher, err = sign(accessTokenSpec{publish: []string{"*"}}); err != nil {
		return "", "", err
	}
	if subscriber, err = sign(accessTokenSpec{subscribe: []string{"*"}}); err != nil {
		return "", "", err
	}
	return publisher, subscriber, nil
}
