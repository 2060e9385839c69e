package durabletest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ssehub/ssehub/durable"
)

// Serve serves Durable Streams with cfg (cfg.Store is required; the caller
// keeps and closes it) on a loopback test server, and returns the stream
// root, such as http://127.0.0.1:port/v1/stream/. The server and its
// taken-over SSE responses end with the test.
func Serve(tb testing.TB, cfg durable.Config) string {
	tb.Helper()
	srv, err := durable.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	ts := httptest.NewServer(mux)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		ts.Close()
	})
	return ts.URL + srv.Prefix()
}
