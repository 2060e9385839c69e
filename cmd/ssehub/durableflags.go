package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/store"
)

// durableFlags are the Durable Streams flags of ssehub serve.
type durableFlags struct {
	store    *string
	cfg      durable.Config
	disabled *bool
}

func addDurableFlags(fs *flag.FlagSet) *durableFlags {
	f := &durableFlags{}
	f.store = fs.String("durable-store", "",
		"where Durable Streams keep their data, as a URL (memory://, bolt://file.db,\n"+
			"redis://127.0.0.1:6379/0?key=P, nats://127.0.0.1:4222?stream=S: nodes sharing one share streams);\n"+
			"empty: beside the hub's -store (bolt://ssehub.db gives bolt://ssehub-durable.db)")
	f.disabled = fs.Bool("durable-off", false, "do not serve Durable Streams")
	fs.StringVar(&f.cfg.Prefix, "durable-prefix", durable.DefaultPrefix, "the `path` under which Durable Streams are served; it starts and ends with /")
	fs.Int64Var(&f.cfg.MaxBodyBytes, "durable-max-body", durable.DefaultMaxBodyBytes, "the most `bytes` one create or append body may carry (413 beyond)")
	fs.IntVar(&f.cfg.MaxReadBytes, "durable-max-read", durable.DefaultMaxReadBytes, "about how many `bytes` one Durable Streams read response carries")
	fs.DurationVar(&f.cfg.LongPoll, "durable-long-poll", durable.DefaultLongPoll, "how long a long-poll read waits for data before its 204")
	fs.DurationVar(&f.cfg.SSEDuration, "durable-sse-duration", durable.DefaultSSEDuration, "how long a Durable Streams SSE response stays open before the server closes it\n(the client reconnects from its offset; the spec recommends about 60s)")
	fs.DurationVar(&f.cfg.WriteTimeout, "durable-write-timeout", durable.DefaultWriteTimeout, "how long a write to a live Durable Streams SSE reader may wait for a slow client\nbefore the server disconnects it (the client resumes from its offset)")
	fs.IntVar(&f.cfg.MaxStreams, "durable-max-streams", durable.DefaultMaxStreams, "the most Durable Streams the store may hold; creating one more is 507\n(enforced exactly on every store, across nodes on redis:// and nats://)")
	fs.DurationVar(&f.cfg.MaxTTL, "durable-max-ttl", durable.DefaultMaxTTL, "the longest Stream-TTL, and the furthest Stream-Expires-At, a stream may ask for")
	return f
}

// open opens the streams' store and their server; close releases the
// store. The server is nil when Durable Streams are off; the store is
// opened all the same when needStore (the demo's resumable answers live in
// it), else it is nil too.
func (f *durableFlags) open(ctx context.Context, hubStoreURL string, needStore bool, logger *slog.Logger) (st durable.Store, srv *durable.Server, close func(), err error) {
	if *f.disabled && !needStore {
		return nil, nil, func() {}, nil
	}
	u := *f.store
	if u == "" {
		if u, err = store.Sibling(hubStoreURL, "durable"); err != nil {
			return nil, nil, nil, err
		}
	}
	st, err = store.OpenStreams(ctx, u)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("opening the store of Durable Streams (-durable-store or SSEHUB_DURABLE_STORE): %w", err)
	}
	logger.Info("durable streams store opened", "store", u)
	if *f.disabled {
		return st, nil, func() { st.Close() }, nil
	}
	cfg := f.cfg
	cfg.Store, cfg.Logger = st, logger
	srv, err = durable.New(cfg)
	if err != nil {
		st.Close()
		return nil, nil, nil, usageError{err}
	}
	logger.Info("serving Durable Streams", "prefix", cfg.Prefix)
	return st, srv, func() { st.Close() }, nil
}
