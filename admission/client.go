package admission

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientKey is the context key of the client address that Guard.Handler
// found for a request.
type clientKey struct{}

// Client returns the address a request is attributed to: the client that
// a trusted proxy forwarded it for when Guard.Handler served it, otherwise
// the connection's peer. An IPv6 address is cut to its prefix (see
// Config.IPv6Prefix) only when the Guard set it; without a Guard, it is the
// peer's address as is. The result is "" only when r.RemoteAddr does not
// parse.
func Client(r *http.Request) string {
	if a, ok := r.Context().Value(clientKey{}).(netip.Addr); ok {
		return a.String()
	}
	if a, ok := peerAddr(r.RemoteAddr); ok {
		return a.String()
	}
	return ""
}

func withClient(ctx context.Context, a netip.Addr) context.Context {
	return context.WithValue(ctx, clientKey{}, a)
}

// peerAddr parses a "host:port" remote address.
func peerAddr(remote string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap(), true
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// ForwardedFor returns the addresses a request passed through, as the
// proxies in front of the server recorded them, nearest last: the for=
// parameters of the Forwarded header (RFC 7239) when there is one,
// otherwise the X-Forwarded-For list. An element that is not an IP
// address (RFC 7239's "unknown" and obfuscated identifiers, garbage) is an
// invalid netip.Addr, so that the caller stops trusting the chain there.
func ForwardedFor(h http.Header) []netip.Addr {
	var out []netip.Addr
	if fw := h.Values("Forwarded"); len(fw) > 0 {
		for _, line := range fw {
			for elem := range strings.SplitSeq(line, ",") {
				found := false
				for pair := range strings.SplitSeq(elem, ";") {
					k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
					if !ok || !strings.EqualFold(k, "for") {
						continue
					}
					found = true
					out = append(out, forwardedNode(v))
				}
				if !found {
					out = append(out, netip.Addr{})
				}
			}
		}
		return out
	}
	for _, line := range h.Values("X-Forwarded-For") {
		for v := range strings.SplitSeq(line, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(v))
			if err != nil || a.Zone() != "" {
				out = append(out, netip.Addr{})
				continue
			}
			out = append(out, a.Unmap())
		}
	}
	return out
}

// forwardedNode parses the value of a for= parameter: 192.0.2.1,
// "192.0.2.1:80", "[2001:db8::1]" or "[2001:db8::1]:80".
func forwardedNode(v string) netip.Addr {
	v = strings.Trim(strings.TrimSpace(v), `"`)
	if strings.HasPrefix(v, "[") {
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return netip.Addr{}
		}
		v = v[1:end]
	} else if host, _, err := net.SplitHostPort(v); err == nil {
		v = host
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}
