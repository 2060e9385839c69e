// Package flakynet gives tests connections that break in the middle of a
// stream, as mobile networks do, to exercise reconnection and resumption.
package flakynet

import (
	"context"
	"net"
	"net/http"
)

// Conn is a net.Conn that closes itself once it has read Budget bytes.
type Conn struct {
	net.Conn
	Budget int
}

// Read reads at most the rest of the budget, and fails once it is spent.
func (c *Conn) Read(p []byte) (int, error) {
	if c.Budget <= 0 {
		c.Conn.Close()
		return 0, net.ErrClosed
	}
	if len(p) > c.Budget {
		p = p[:c.Budget]
	}
	n, err := c.Conn.Read(p)
	c.Budget -= n
	return n, err
}

// Transport returns an HTTP transport whose every connection breaks after
// budget() bytes; it keeps no connection alive between requests.
// budget is called once per connection, possibly from several goroutines.
func Transport(budget func() int) *http.Transport {
	d := &net.Dialer{}
	return &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &Conn{Conn: c, Budget: budget()}, nil
		},
	}
}
