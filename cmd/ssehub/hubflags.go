package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
	"github.com/ssehub/ssehub/store"
)

// addHubFlags registers the hub's flags on fs and returns the Config they
// fill in when fs is parsed (parseFlags also reads each flag's SSEHUB_…
// environment variable). ssehub serve passes the result to mercure.New.
func addHubFlags(fs *flag.FlagSet) *mercure.Config {
	c := &mercure.Config{}
	fs.StringVar(&c.PublisherJWTKey, "publisher-jwt-key", "",
		"key that checks publishers' tokens: the shared secret for HS256,\nor the RSA public key (PEM text) for RS256; without it nobody can publish")
	fs.StringVar(&c.PublisherJWTAlg, "publisher-jwt-alg", "HS256",
		"signing algorithm publishers' tokens must use: HS256, HS384, HS512, RS256, RS384 or RS512")
	fs.StringVar(&c.SubscriberJWTKey, "subscriber-jwt-key", "",
		"key that checks subscribers' tokens (as -publisher-jwt-key); needed for private updates")
	fs.StringVar(&c.SubscriberJWTAlg, "subscriber-jwt-alg", "HS256",
		"signing algorithm subscribers' tokens must use")
	fs.Func("jwt-key", "sets -publisher-jwt-key and -subscriber-jwt-key at once", func(v string) error {
		c.PublisherJWTKey, c.SubscriberJWTKey = v, v
		return nil
	})
	fs.BoolVar(&c.Anonymous, "anonymous", false,
		"let subscribers without a token receive public updates")
	fs.Func("cors-origins", "comma-separated origins whose web pages may use the hub with credentials (cookies),\ne.g. https://app.example.com; * lets any other page use it without credentials", listSetter(&c.CORSOrigins))
	fs.Func("publish-origins", "comma-separated origins allowed to publish with the authorization cookie\n(mercureAuthorization, or draft-08's -access-token-cookie); * allows any (default: none)", listSetter(&c.PublishOrigins))
	fs.BoolVar(&c.Subscriptions, "subscriptions", false,
		"publish subscription events and serve the subscriptions API at /.well-known/mercure/subscriptions")
	fs.DurationVar(&c.Heartbeat, "heartbeat", mercure.DefaultHeartbeat,
		"interval of the comment that keeps idle streams open through proxies; negative disables it")
	fs.DurationVar(&c.Coalesce, "coalesce", mercure.DefaultCoalesce,
		"how long stream writers pause after a round of writes, while updates come faster than\nthey write them out, so that updates published meanwhile leave in one write (CPU\nagainst latency; no pause at a load they keep up with); negative: a goroutine per stream")
	fs.Func("history-bytes", fmt.Sprintf("most bytes of updates kept for clients that reconnect (Last-Event-ID), e.g. 64MiB or 2GiB;\n"+
		"when not set, the store's bound: %s for bolt:// (on disk), %s for redis://, %s for memory://,\n"+
		"none for nats:// (JetStream would reserve it up front; its server's storage limit applies);\n"+
		"-1: no byte bound; a store URL's bytes parameter wins (see docs/history.md)",
		store.FormatBytes(store.DefaultBytesOnDisk), store.FormatBytes(store.DefaultBytesRedis), store.FormatBytes(store.DefaultBytesMemory)),
		func(v string) (err error) {
			c.HistoryBytes, err = store.ParseBytes(v)
			return err
		})
	fs.IntVar(&c.HistorySize, "history-size", 0,
		"most updates kept for clients that reconnect; 0: the store's default (1,000,000;\n100,000 for memory://); negative keeps none (memory:// only); a store URL's size parameter wins")
	fs.DurationVar(&c.HistoryAge, "history-age", 0,
		"drop updates older than this from history, e.g. 24h; 0 keeps them whatever their age;\na store URL's age parameter wins")
	fs.Func("page-bytes", fmt.Sprintf("most bytes of events a stream's writer takes at a time (a page of history, a batch of live\n"+
		"updates; at least one update): what a subscriber that stops reading costs besides its socket buffer (default %s)",
		store.FormatBytes(hub.DefaultPageBytes)),
		func(v string) error {
			n, err := store.ParseBytes(v)
			if err == nil && (n <= 0 || n > 1<<30) {
				err = fmt.Errorf("page size %q: want between 1B and 1GiB", v)
			}
			c.PageBytes = int(n)
			return err
		})
	fs.Int64Var(&c.MaxDataBytes, "max-data-bytes", mercure.DefaultMaxDataBytes,
		"largest data a publisher may send in one update, in bytes")
	fs.DurationVar(&c.PublishTimeout, "publish-timeout", mercure.DefaultPublishTimeout,
		"how long storing one published update may take before the publisher is answered 503;\n"+
			"a publisher that hangs up after sending still has its update stored")
	fs.IntVar(&c.MaxIDBytes, "max-id-bytes", mercure.DefaultMaxIDBytes,
		"longest id a publisher may give an update, in bytes; longer ones are refused with 413")
	fs.IntVar(&c.MaxTypeBytes, "max-type-bytes", mercure.DefaultMaxTypeBytes,
		"longest event type a publisher may give an update, in bytes; longer ones are refused with 413")
	fs.IntVar(&c.MaxTopics, "max-topics", mercure.DefaultMaxTopics,
		"most topics one update, or one subscription, may name")
	fs.StringVar(&c.Draft, "draft", "",
		"serve one version of the Mercure protocol only: 07 (draft-dunglas-mercure-07) or\n08 (draft-dunglas-mercure-08, Mercure 1.0); empty serves both on the same endpoint")
	fs.StringVar(&c.PublicURL, "public-url", "",
		"the hub's URL as clients reach it, e.g. https://example.com/.well-known/mercure;\ndraft-08 resolves relative URL patterns and topics against it, and its path prefixes\ndraft-08 subscription topics and API (default: each request's host)")
	fs.DurationVar(&c.IdempotencyKeep, "idempotency-keep", mercure.DefaultIdempotencyKeep,
		"how long the answer to a publish with an Idempotency-Key header is given again to\nits retries (kept in the store, so shared by the nodes); at most 168h; negative ignores the header")
	fs.IntVar(&c.MaxSelectorBytes, "max-selector-bytes", hub.DefaultMaxSelectorBytes,
		"longest topic selector a subscriber may send, in bytes; longer ones are refused with 400")
	fs.IntVar(&c.MaxSelectorVariables, "max-selector-variables", hub.DefaultMaxSelectorVariables,
		"most variables a URI template topic selector may have, all its {…} expressions together")
	fs.IntVar(&c.MaxSelectorProgram, "max-selector-program", hub.DefaultMaxSelectorProgram,
		"most instructions a template selector may compile to past its literal prefix;\n"+
			"a match costs at most about 3 steps per instruction per character of the topic")
	fs.Int64Var(&c.SelectorCacheBytes, "selector-cache-bytes", hub.DefaultSelectorCacheBytes,
		"memory for compiled topic selectors kept for reuse, shared by all subscribers, in bytes")
	return c
}

// listSetter returns a flag setter that splits a comma- or space-separated
// list into *dst.
func listSetter(dst *[]string) func(string) error {
	return func(v string) error {
		*dst = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
		return nil
	}
}

// defaultStoreURL is the store of "ssehub serve" without -store: a bolt
// file in the working directory, so that history survives a restart with
// no set-up.
const defaultStoreURL = "bolt://ssehub.db"

// addStoreFlag registers -store, the URL of the store that keeps the hub's
// history, and returns where its value goes.
func addStoreFlag(fs *flag.FlagSet) *string {
	return fs.String("store", defaultStoreURL,
		"where the hub keeps its history, as a URL:\n"+
			"  bolt://ssehub.db              file ssehub.db in the working directory (one node, durable)\n"+
			"  bolt:///var/lib/ssehub/hub.db an absolute path\n"+
			"  memory://                     in memory, lost on exit\n"+
			"  redis://127.0.0.1:6379/0?key=ssehub      Redis Streams, shared by several nodes\n"+
			"  nats://127.0.0.1:4222?stream=SSEHUB&hub=default  NATS JetStream, shared by several nodes\n"+
			"every scheme takes bytes=SIZE, size=N and age=DURATION (docs/history.md);\nsee the README's \"Running several nodes\"")
}
