package store

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/ssehub/ssehub/store/natsstore"
	"github.com/ssehub/ssehub/store/redisstore"
)

// Sibling returns the URL of a store of the same kind and place as rawURL
// but kept apart under name: another file next to a bolt file, another key
// prefix in Redis, another JetStream stream in NATS, another memory store.
// Its size, bytes and age parameters are dropped, so that the Options given to Open
// decide them: a sibling has limits of its own (subscription events, say,
// are kept by a small count of their own while the hub's history is kept by
// its flags).
func Sibling(rawURL, name string) (string, error) {
	scheme, path, u, err := parseURL(rawURL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Del("size")
	q.Del("bytes")
	q.Del("age")
	switch strings.ToLower(scheme) {
	case "memory":
		return "memory://", nil
	case "bolt":
		ext := filepath.Ext(path)
		u := "bolt://" + strings.TrimSuffix(path, ext) + "-" + name + ext
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		return u, nil
	case "redis", "rediss":
		prefix := q.Get("key")
		if prefix == "" {
			prefix = redisstore.DefaultPrefix
		}
		q.Set("key", prefix+"-"+name)
	case "nats":
		// A stream of its own: JetStream's limits belong to a stream.
		stream := q.Get("stream")
		if stream == "" {
			stream = natsstore.DefaultStream
		}
		q.Set("stream", stream+"_"+strings.ToUpper(name))
	default:
		return "", fmt.Errorf("store URL %q: unknown scheme %q: want one of %s", rawURL, scheme, Schemes)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
