package admission

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serve runs an HTTP server behind a Guard of cfg on a loopback port:
// /hold answers its headers and holds the connection until the client
// leaves (an event stream), /healthz and / answer "ok".
func serve(t *testing.T, cfg Config) (*Guard, string) {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok "+Client(r))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	g.Wrap(srv)
	go srv.Serve(g.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return g, ln.Addr().String()
}

// response is what a raw request got.
type response struct {
	status     int
	retryAfter string
	body       string
	conn       net.Conn // still open for /hold answered 200
}

// request sends one GET on a new connection from the loopback address
// from, with extra header lines, and reads the status and headers (and the
// body, unless the connection is held).
func request(t *testing.T, addr, from, path string, header ...string) response {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", path, strings.Join(append(header, ""), "\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		t.Fatalf("GET %s from %s: %v", path, from, err)
	}
	r := response{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if path == "/hold" && resp.StatusCode == http.StatusOK {
		r.conn = c
		t.Cleanup(func() { c.Close() })
		return r
	}
	b, _ := io.ReadAll(resp.Body)
	r.body = string(b)
	c.Close()
	return r
}

// hold opens n held connections from one address, each answered 200.
func hold(t *testing.T, addr, from string, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for i := range n {
		r := request(t, addr, from, "/hold")
		if r.status != http.StatusOK {
			t.Fatalf("held connection %d from %s: %d, want 200", i+1, from, r.status)
		}
		cs = append(cs, r.conn)
	}
	return cs
}

// waitOpen waits, bounded, until the Guard counts n served connections.
func waitOpen(t *testing.T, g *Guard, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for g.Stats().Open != n {
		if time.Now().After(deadline) {
			t.Fatalf("open connections = %d, want %d", g.Stats().Open, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wantRefusal(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d (%q), want %d", r.status, r.body, status)
	}
	if s, err := strconv.Atoi(r.retryAfter); err != nil || s < 1 {
		t.Fatalf("Retry-After %q, want a number of seconds", r.retryAfter)
	}
}

func TestGuard_AClientOverItsConnectionCapIsAnswered429AndOthersAreServed(t *testing.T) {
	g, addr := serve(t, Config{MaxConnsPerClient: 5, ConnRate: -1})
	held := hold(t, addr, "127.0.0.1", 5)
	wantRefusal(t, request(t, addr, "127.0.0.1", "/hold"), http.StatusTooManyRequests)
	if r := request(t, addr, "127.0.0.2", "/"); r.status != 200 || r.body != "ok 127.0.0.2" {
		t.Fatalf("another client got %d %q, want 200 ok 127.0.0.2", r.status, r.body)
	}
	// A closed connection frees its place.
	held[0].Close()
	waitOpen(t, g, 4)
	hold(t, addr, "127.0.0.1", 1)
	if st := g.Stats(); st.Refused != 1 {
		t.Fatalf("stats %+v, want 1 refused", st)
	}
}

func TestGuard_AClientConnectingFasterThanItsRateIsAnswered429(t *testing.T) {
	_, addr := serve(t, Config{ConnRate: 0.5, ConnBurst: 3})
	for i := range 3 {
		if r := request(t, addr, "127.0.0.1", "/"); r.status != 200 {
			t.Fatalf("connection %d within the burst: %d", i+1, r.status)
		}
	}
	r := request(t, addr, "127.0.0.1", "/")
	wantRefusal(t, r, http.StatusTooManyRequests)
	if r.retryAfter != "2" { // one token every 2 s
		t.Fatalf("Retry-After %q, want 2", r.retryAfter)
	}
	if r := request(t, addr, "127.0.0.2", "/"); r.status != 200 {
		t.Fatalf("another client: %d, want 200", r.status)
	}
}

func TestGuard_AFullServerAnswers503ButStillServesHealthChecks(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"at the connection cap", Config{MaxConns: 4, FDLimit: -1}},
		{"at the open-files limit less the reserve", Config{FDLimit: 24, FDReserve: 20}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.MaxConnsPerClient, tt.cfg.ConnRate = -1, -1
			g, addr := serve(t, tt.cfg)
			if g.Capacity() != 4 {
				t.Fatalf("capacity %d, want 4", g.Capacity())
			}
			hold(t, addr, "127.0.0.1", 4)
			wantRefusal(t, request(t, addr, "127.0.0.2", "/hold"), http.StatusServiceUnavailable)
			if r := request(t, addr, "127.0.0.2", DefaultHealthPath); r.status != 200 {
				t.Fatalf("/healthz on a full server: %d %q, want 200", r.status, r.body)
			}
		})
	}
}

func TestGuard_AnOpenFilesLimitUnderTheReserveIsAnError(t *testing.T) {
	if _, err := New(Config{FDLimit: 100, FDReserve: 100}); err == nil || !strings.Contains(err.Error(), "open-files limit 100") {
		t.Fatalf("err = %v, want one naming the open-files limit", err)
	}
}

func TestGuard_RefusedConnectionsBeyondTheRoomAreClosedUnanswered(t *testing.T) {
	// The reserve of 8 keeps room for 2 refusals; one client gets at most
	// maxRefusingPerClient of them.
	g, addr := serve(t, Config{MaxConns: 1, FDLimit: -1, FDReserve: 8, MaxConnsPerClient: -1, ConnRate: -1})
	hold(t, addr, "127.0.0.1", 1)
	var silent []net.Conn
	for range 2 { // hold the room: connect, send nothing
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.Stats().Refusing != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want 2 refusing", g.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("read %d bytes, %v: want the connection closed", n, err)
	}
	if g.Stats().Dropped == 0 {
		t.Fatalf("stats %+v, want a dropped connection", g.Stats())
	}
	// The refused connections that send nothing are closed by refuseTimeout.
	for _, c := range silent {
		c.SetReadDeadline(time.Now().Add(refuseTimeout + 5*time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("a silent refused connection: %v, want it closed", err)
		}
	}
}

func TestGuard_AClientBehindATrustedProxyIsTheAddressItForwardsFor(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	for _, tt := range []struct {
		name, from, header, want string
	}{
		{"X-Forwarded-For from a trusted proxy", "127.0.0.1", "X-Forwarded-For: 203.0.113.7", "203.0.113.7"},
		{"the nearest untrusted hop wins", "127.0.0.1", "X-Forwarded-For: 198.51.100.1, 203.0.113.7, 127.0.0.1", "203.0.113.7"},
		{"Forwarded wins over X-Forwarded-For", "127.0.0.1", "Forwarded: for=\"[2001:db8:1:2::9]:443\"\r\nX-Forwarded-For: 203.0.113.7", "2001:db8:1:2::"},
		{"an unknown hop leaves the proxy responsible", "127.0.0.1", "Forwarded: for=unknown", "127.0.0.1"},
		{"an untrusted peer cannot claim another address", "127.0.0.2", "X-Forwarded-For: 203.0.113.7", "127.0.0.2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := serve(t, Config{TrustedProxies: trusted})
			if r := request(t, addr, tt.from, "/", tt.header); r.body != "ok "+tt.want {
				t.Fatalf("client %q, want %q", strings.TrimPrefix(r.body, "ok "), tt.want)
			}
		})
	}
}

func TestGuard_ClientsBehindATrustedProxyHaveTheirOwnConnectionCaps(t *testing.T) {
	_, addr := serve(t, Config{MaxConnsPerClient: 2, ConnRate: -1,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	for range 2 {
		if r := request(t, addr, "127.0.0.1", "/hold", "X-Forwarded-For: 203.0.113.7"); r.status != 200 {
			t.Fatalf("status %d, want 200", r.status)
		}
	}
	wantRefusal(t, request(t, addr, "127.0.0.1", "/hold", "X-Forwarded-For: 203.0.113.7"), http.StatusTooManyRequests)
	if r := request(t, addr, "127.0.0.1", "/hold", "X-Forwarded-For: 203.0.113.8"); r.status != 200 {
		t.Fatalf("another client through the same proxy: %d, want 200", r.status)
	}
}

func TestForwardedFor_ParsesEveryFormOfTheHeaders(t *testing.T) {
	inv := netip.Addr{}
	for _, tt := range []struct {
		name   string
		header http.Header
		want   []netip.Addr
	}{
		{"no header", http.Header{}, nil},
		{"X-Forwarded-For list over two lines", http.Header{"X-Forwarded-For": {"192.0.2.1, 192.0.2.2", "::ffff:192.0.2.3"}},
			[]netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")}},
		{"garbage in X-Forwarded-For", http.Header{"X-Forwarded-For": {"nonsense, 192.0.2.2"}}, []netip.Addr{inv, netip.MustParseAddr("192.0.2.2")}},
		{"Forwarded with ports, brackets, quotes and other parameters", http.Header{"Forwarded": {`for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711"`, `for="192.0.2.61:80"`}},
			[]netip.Addr{netip.MustParseAddr("192.0.2.60"), netip.MustParseAddr("2001:db8:cafe::17"), netip.MustParseAddr("192.0.2.61")}},
		{"Forwarded elements without an address", http.Header{"Forwarded": {`for=unknown, for=_hidden, proto=https, for="[::1"`}}, []netip.Addr{inv, inv, inv, inv}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ForwardedFor(tt.header)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("ForwardedFor = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzForwardedFor(f *testing.F) {
	f.Add(`for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"`, "192.0.2.1, 192.0.2.2")
	f.Add(`for="[::1`, "::ffff:1.2.3.4")
	f.Fuzz(func(t *testing.T, fwd, xff string) {
		for _, h := range []http.Header{{"Forwarded": {fwd}}, {"X-Forwarded-For": {xff}}} {
			for _, a := range ForwardedFor(h) {
				if a.IsValid() && (a.Is4In6() || a.Zone() != "") {
					t.Fatalf("ForwardedFor(%v) gave %v: want unmapped addresses without zones", h, a)
				}
			}
		}
	})
}

func TestRateLimiter_EachKeyHasItsOwnBucket(t *testing.T) {
	l := NewRateLimiter(1, 2)
	for i := range 2 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("action %d within the burst refused", i+1)
		}
	}
	if ok, retry := l.Allow("a"); ok || retry <= 0 || retry > time.Second {
		t.Fatalf("Allow past the burst = %v, %v; want false and a wait up to 1s", ok, retry)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key refused")
	}
	var none *RateLimiter = NewRateLimiter(0, 0)
	if ok, _ := none.Allow("a"); !ok {
		t.Fatal("a limiter without a rate refused")
	}
}
