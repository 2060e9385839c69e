package loadgen_test

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/loadgen"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/tlsserve"
)

const h2Key = "loadgen-http2-test-secret-32-bytes"

func TestRun_SubscribesOverHTTP2(t *testing.T) {
	tests := []struct {
		name    string
		tls     tlsserve.Config
		scheme  string
		streams int
	}{
		{"h2c, a connection per subscriber", tlsserve.Config{H2C: true}, "http", 1},
		{"HTTP/2 over TLS, a connection per subscriber", tlsserve.Config{SelfSigned: true}, "https", 1},
		{"HTTP/2 over TLS, subscribers sharing connections", tlsserve.Config{SelfSigned: true}, "https", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := mercure.New(mercure.Config{PublisherJWTKey: h2Key, SubscriberJWTKey: h2Key})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			mux := http.NewServeMux()
			h.Register(mux)
			var h2Subs atomic.Int64
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet && r.ProtoMajor == 2 {
					h2Subs.Add(1)
				}
				mux.ServeHTTP(w, r)
			})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv, err := tlsserve.New(t.Context(), tt.tls, &http.Server{Handler: handler}, ln)
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve() }()
			defer func() { srv.Close(); <-served }()

			pub, sub := tokens(t)
			res, err := loadgen.Run(t.Context(), loadgen.Config{
				HubURL:      tt.scheme + "://" + ln.Addr().String() + "/.well-known/mercure",
				Subscribers: 7, Updates: 30, HTTP2: true, StreamsPerConn: tt.streams, InsecureSkipVerify: true,
				PublisherToken: pub, SubscriberToken: sub, Timeout: 30 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Stop != "complete" || res.Distinct != 7*30 || res.Connected != 7 {
				t.Fatalf("stop %q, distinct %d, connected %d; want complete, 210, 7 (errors %q)", res.Stop, res.Distinct, res.Connected, res.Errors)
			}
			if got := h2Subs.Load(); got != 7 {
				t.Fatalf("the hub saw %d subscriptions over HTTP/2, want 7", got)
			}
		})
	}
}

func tokens(t *testing.T) (pub, sub string) {
	t.Helper()
	pub, sub, err := loadgen.Tokens(h2Key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return pub, sub
}
