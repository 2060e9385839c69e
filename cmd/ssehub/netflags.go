package main

import (
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/ssehub/ssehub/admission"
	"github.com/ssehub/ssehub/mercure"
)

// Defaults of the HTTP server's own limits (the others are admission's,
// mercure's and resumable's).
const (
	// defaultMaxHeaderBytes bounds a request's line and headers: a
	// subscription's query string is in the request line, so this is also
	// the longest query ssehub serve accepts (431 beyond).
	defaultMaxHeaderBytes = 32 << 10
	// defaultReadHeaderTimeout bounds the time a client takes to send them.
	defaultReadHeaderTimeout = 10 * time.Second
	// defaultIdleTimeout closes keep-alive connections idle that long.
	defaultIdleTimeout = 60 * time.Second
)

// netFlags are the flags that protect ssehub serve from hostile clients:
// connection caps and rates, header size and time, idle keep-alives.
type netFlags struct {
	admission         admission.Config
	maxHeaderBytes    int
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
}

// addNetFlags registers the network limits on fs; the publish limits go
// into hub. For each limit 0 turns it off.
func addNetFlags(fs *flag.FlagSet, hub *mercure.Config) *netFlags {
	n := &netFlags{}
	a := &n.admission
	fs.IntVar(&a.MaxConns, "max-conns", admission.DefaultMaxConns,
		"most connections served at once (503 beyond); the open-files limit less -fd-reserve\nalso caps them; 0: only that limit")
	fs.IntVar(&a.MaxConnsPerClient, "max-conns-per-client", admission.DefaultMaxConnsPerClient,
		"most connections of one client address (429 beyond); 0: no limit")
	fs.Float64Var(&a.ConnRate, "conn-rate", admission.DefaultConnRate,
		"new connections per second one client address may open on average (429 beyond); 0: no limit")
	fs.IntVar(&a.ConnBurst, "conn-burst", admission.DefaultConnBurst,
		"new connections one client address may open at once, within -conn-rate")
	fs.IntVar(&a.FDReserve, "fd-reserve", admission.DefaultFDReserve,
		"file descriptors under the open-files limit never used for served connections:\na quarter answers refused connections and /healthz, the rest is the process's own")
	fs.Func("trusted-proxies", "comma-separated CIDRs (or addresses) of proxies whose Forwarded or\nX-Forwarded-For header names the client; other peers are the client themselves", func(v string) error {
		var ps []netip.Prefix
		for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return fmt.Errorf("%q is neither a CIDR nor an address: %w", s, err)
				}
				p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
			ps = append(ps, p.Masked())
		}
		a.TrustedProxies = ps
		return nil
	})
	fs.IntVar(&a.IPv6Prefix, "client-ipv6-prefix", admission.DefaultIPv6Prefix,
		"prefix length that IPv6 client addresses are cut to for the per-client limits")
	fs.IntVar(&n.maxHeaderBytes, "max-header-bytes", defaultMaxHeaderBytes,
		"largest request line and headers, in bytes (431 beyond); it bounds subscription queries too;\n0: net/http's 1 MiB")
	fs.DurationVar(&n.readHeaderTimeout, "read-header-timeout", defaultReadHeaderTimeout,
		"time a client has to send its request line and headers")
	fs.DurationVar(&n.idleTimeout, "idle-timeout", defaultIdleTimeout,
		"keep-alive connections idle this long are closed; 0: never")
	fs.DurationVar(&hub.BodyTimeout, "body-timeout", mercure.DefaultBodyTimeout,
		"time a publisher has to send its request body once its token is accepted (408 beyond); 0: no limit")
	fs.Float64Var(&hub.PublishRate, "publish-rate", mercure.DefaultPublishRate,
		"updates per second one publisher (token subject, or address for tokens without sub)\nmay publish on average (429 beyond); 0: no limit")
	fs.IntVar(&hub.PublishBurst, "publish-burst", mercure.DefaultPublishBurst,
		"updates one publisher may publish at once, within -publish-rate")
	return n
}

// hubLimits turns the hub's limits set to 0 on the command line ("none")
// into the negative values mercure.Config reads as "none".
func hubLimits(c *mercure.Config) {
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = -1
	}
	if c.PublishRate <= 0 {
		c.PublishRate = -1
	}
}

// guard returns the admission guard of the flags, off limits turned into
// the negative values admission.Config reads as "none".
func (n *netFlags) guard() (*admission.Guard, error) {
	c := n.admission
	off := func(v *int) {
		if *v <= 0 {
			*v = -1
		}
	}
	off(&c.MaxConns)
	off(&c.MaxConnsPerClient)
	if c.ConnRate <= 0 {
		c.ConnRate = -1
	}
	if c.FDReserve < 0 {
		return nil, usageError{fmt.Errorf("invalid -fd-reserve %d: want 0 or more", c.FDReserve)}
	}
	if c.FDReserve == 0 {
		c.FDReserve = -1
	}
	g, err := admission.New(c)
	if err != nil {
		return nil, usageError{err}
	}
	return g, nil
}

// apply sets the HTTP server's own limits on srv.
func (n *netFlags) apply(srv *http.Server) {
	srv.MaxHeaderBytes = n.maxHeaderBytes
	if n.maxHeaderBytes <= 0 {
		srv.MaxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	srv.ReadHeaderTimeout = n.readHeaderTimeout
	srv.IdleTimeout = n.idleTimeout
	if n.idleTimeout <= 0 {
		// net/http falls back to ReadTimeout, which ssehub never sets:
		// keep-alive connections then stay open.
		srv.IdleTimeout = 0
	}
}
