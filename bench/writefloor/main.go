//go:build unix

// Command writefloor measures what one write(2) per subscriber costs on the
// machine at hand, with no server logic at all: the floor under the
// latency of S5 and D1, where every update or append is one write to each
// of 1,000 loopback connections.
//
// It starts itself twice: a writer, pinned to CPU 0 with GOMAXPROCS=1 (as
// bench/scenarios.sh pins the hub), that accepts the connections and, at
// the given rate, writes a payload stamped with the time to each of them in
// turn from one goroutine; and a reader, pinned to CPU 1, that reads every
// connection and records how long each payload took to arrive. It prints
// the writer's CPU per write and the latency percentiles:
//
//	go run ./bench/writefloor -conns 1000 -rounds 500 -rate 50 -payload 200
//
// Pinning needs taskset (util-linux) and two CPUs; without them both sides
// share the machine, which the output says.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

type config struct {
	conns, rounds, payload int
	rate                   float64
}

func main() {
	var cfg config
	role := flag.String("role", "", "internal: writer or reader")
	addr := flag.String("addr", "", "internal: the writer's address, for the reader")
	flag.IntVar(&cfg.conns, "conns", 1000, "connections (subscribers)")
	flag.IntVar(&cfg.rounds, "rounds", 500, "rounds: writes to every connection")
	flag.IntVar(&cfg.payload, "payload", 200, "bytes per write (at least 8)")
	flag.Float64Var(&cfg.rate, "rate", 50, "rounds per second")
	flag.Parse()
	if cfg.payload < 8 || cfg.conns < 1 || cfg.rounds < 1 || cfg.rate <= 0 {
		fmt.Fprintln(os.Stderr, "writefloor: -payload must be at least 8, and -conns, -rounds and -rate positive")
		os.Exit(2)
	}
	var err error
	switch *role {
	case "":
		err = orchestrate(cfg)
	case "writer":
		err = writer(cfg)
	case "reader":
		err = reader(cfg, *addr)
	default:
		err = fmt.Errorf("unknown -role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "writefloor:", err)
		os.Exit(1)
	}
}

// result is what the writer and the reader report, one JSON line each.
type result struct {
	Addr          string  `json:"addr,omitempty"`
	RoundMs       float64 `json:"round_ms,omitempty"`
	CPUPerWriteUs float64 `json:"cpu_per_write_us,omitempty"`
	Received      int     `json:"received,omitempty"`
	P50Ms         float64 `json:"p50_ms,omitempty"`
	P99Ms         float64 `json:"p99_ms,omitempty"`
}

// orchestrate runs the writer and the reader as pinned child processes and
// prints their results.
func orchestrate(cfg config) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"-conns", strconv.Itoa(cfg.conns), "-rounds", strconv.Itoa(cfg.rounds), "-payload", strconv.Itoa(cfg.payload), "-rate", strconv.FormatFloat(cfg.rate, 'g', -1, 64)}
	pin := func(cpu string, a ...string) *exec.Cmd {
		if _, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() >= 2 {
			return exec.Command("taskset", append([]string{"-c", cpu, self}, a...)...)
		}
		return exec.Command(self, a...)
	}
	w := pin("0", append([]string{"-role", "writer"}, args...)...)
	w.Env = append(os.Environ(), "GOMAXPROCS=1")
	w.Stderr = os.Stderr
	wout, err := w.StdoutPipe()
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Process.Kill()
	lines := bufio.NewScanner(wout)
	var ready result
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &ready) != nil || ready.Addr == "" {
		return errors.New("the writer did not say where it listens")
	}
	r := pin("1", append([]string{"-role", "reader", "-addr", ready.Addr}, args...)...)
	r.Env = append(os.Environ(), "GOMAXPROCS=1")
	r.Stderr = os.Stderr
	rout, err := r.Output()
	if err != nil {
		return fmt.Errorf("reader: %w", err)
	}
	var wres, rres result
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &wres) != nil {
		return errors.New("the writer reported nothing")
	}
	if err := json.Unmarshal(rout, &rres); err != nil {
		return fmt.Errorf("reader's report: %w", err)
	}
	if err := w.Wait(); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	pinned := "writer on CPU 0, reader on CPU 1"
	if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
		pinned = "not pinned: both share the machine"
	}
	fmt.Printf("%d connections, %d rounds at %g/s, %d-byte writes (%s)\n", cfg.conns, cfg.rounds, cfg.rate, cfg.payload, pinned)
	fmt.Printf("writer: %.2f ms per round, %.2f µs of CPU per write\n", wres.RoundMs, wres.CPUPerWriteUs)
	fmt.Printf("reader: %d of %d received, latency p50 %.2f ms, p99 %.2f ms\n", rres.Received, cfg.conns*cfg.rounds, rres.P50Ms, rres.P99Ms)
	return nil
}

// writer accepts cfg.conns connections, then writes a stamped payload to
// each in turn, one write(2) each, cfg.rounds times at cfg.rate.
func writer(cfg config) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	enc := json.NewEncoder(os.Stdout)
	enc.Encode(result{Addr: ln.Addr().String()})
	conns := make([]*net.TCPConn, 0, cfg.conns)
	for len(conns) < cfg.conns {
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accept %d of %d: %w", len(conns)+1, cfg.conns, err)
		}
		conns = append(conns, c.(*net.TCPConn))
	}
	buf := make([]byte, cfg.payload)
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	var busy time.Duration
	tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.rate))
	defer tick.Stop()
	for range cfg.rounds {
		<-tick.C
		start := time.Now()
		binary.LittleEndian.PutUint64(buf, uint64(start.UnixNano()))
		for i, c := range conns {
			if _, err := c.Write(buf); err != nil {
				return fmt.Errorf("write to connection %d: %w", i, err)
			}
		}
		busy += time.Since(start)
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	writes := float64(cfg.rounds * cfg.conns)
	for _, c := range conns {
		c.Close()
	}
	return enc.Encode(result{
		RoundMs:       float64(busy) / float64(cfg.rounds) / 1e6,
		CPUPerWriteUs: float64(cpu) / writes / 1e3,
	})
}

// reader opens cfg.conns connections to addr and reads each to its end,
// recording how long each payload took from its stamp.
func reader(cfg config, addr string) error {
	var mu sync.Mutex
	lat := make([]time.Duration, 0, cfg.conns*cfg.rounds)
	var wg sync.WaitGroup
	errs := make(chan error, cfg.conns)
	for i := range cfg.conns {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return fmt.Errorf("dial %d: %w", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, cfg.payload)
			own := make([]time.Duration, 0, cfg.rounds)
			for range cfg.rounds {
				// The writer writes its last round within rounds/rate; a
				// minute more is the bound of a run gone wrong.
				c.SetReadDeadline(time.Now().Add(time.Duration(float64(cfg.rounds)/cfg.rate*float64(time.Second)) + time.Minute))
				if _, err := io.ReadFull(c, buf); err != nil {
					errs <- fmt.Errorf("read: %w", err)
					return
				}
				own = append(own, time.Since(time.Unix(0, int64(binary.LittleEndian.Uint64(buf)))))
			}
			mu.Lock()
			lat = append(lat, own...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	var msgs []string
	for err := range errs {
		msgs = append(msgs, err.Error())
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%d connections failed, first: %s", len(msgs), msgs[0])
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	return json.NewEncoder(os.Stdout).Encode(result{Received: len(lat), P50Ms: pct(0.50), P99Ms: pct(0.99)})
}
