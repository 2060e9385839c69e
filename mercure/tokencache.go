package mercure

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// DefaultTokenCacheBytes bounds the cache of verified tokens
// (Config.TokenCacheBytes).
const DefaultTokenCacheBytes = 8 << 20

// tokenEntryOverhead is what one cache entry costs beyond the grants it
// holds: key, list element, map slot, access struct. It also bounds the
// number of entries: at most TokenCacheBytes/tokenEntryOverhead.
const tokenEntryOverhead = 256

// tokenKey identifies a verified token: a hash of the token, the role it
// was presented for and the URL its patterns were resolved against, so
// that a token is never reused for another role or hub URL, and the cache
// does not hold the bearer secrets themselves.
type tokenKey [sha256.Size]byte

func newTokenKey(kind byte, r role, base, token string) tokenKey {
	b := make([]byte, 0, 3+len(base)+len(token))
	b = append(append(append(b, kind, byte(r)), base...), 0)
	return sha256.Sum256(append(b, token...))
}

// tokenCache remembers what verified tokens grant, so that a publisher
// presenting the same token on every request pays for its signature and
// its authorization details once. An entry lives from the token's nbf
// until its exp, and the least recently used go first when the cache is
// over its byte budget. Refused tokens are not remembered: a refusal
// costs a verification, as before. Safe for concurrent use.
type tokenCache struct {
	budget int // bytes; 0: the cache is off

	mu      sync.Mutex
	used    int
	lru     *list.List // of *tokenEntry, most recently used first
	entries map[tokenKey]*list.Element
}

type tokenEntry struct {
	key  tokenKey
	acc  *access
	size int
}

// newTokenCache returns a cache of at most budget bytes; nil when budget is
// not positive, which caches nothing.
func newTokenCache(budget int) *tokenCache {
	if budget <= 0 {
		return nil
	}
	return &tokenCache{budget: budget, lru: list.New(), entries: make(map[tokenKey]*list.Element)}
}

// get returns a copy of what the token k grants if it is cached and valid
// at now; an entry past its exp (or before its nbf, should the clock go
// back) is dropped.
func (c *tokenCache) get(k tokenKey, now time.Time) (*access, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*tokenEntry)
	if !e.valid(now) {
		c.remove(el)
		return nil, false
	}
	c.lru.MoveToFront(el)
	// Callers narrow the copy (a stream's end); the grants themselves are
	// never written after verification, so they are shared.
	acc := *e.acc
	return &acc, true
}

func (e *tokenEntry) valid(now time.Time) bool {
	// jwt refuses a token at exp and accepts it at nbf: the same bounds.
	return (e.acc.expires.IsZero() || now.Before(e.acc.expires)) && !now.Before(e.acc.notBefore)
}

// put remembers that the token k grants acc. A grant
// larger than a quarter of the budget is not cached: it would push out
// many smaller ones.
func (c *tokenCache) put(k tokenKey, acc *access, now time.Time) {
	if c == nil {
		return
	}
	e := &tokenEntry{key: k, acc: acc, size: tokenEntryOverhead + acc.size()}
	if e.size > c.budget/4 || !e.valid(now) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		c.remove(el)
	}
	c.entries[k] = c.lru.PushFront(e)
	c.used += e.size
	for c.used > c.budget {
		c.remove(c.lru.Back())
	}
}

func (c *tokenCache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*tokenEntry)
	delete(c.entries, e.key)
	c.used -= e.size
}

// len returns the number of entries and the bytes they are counted for.
func (c *tokenCache) len() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.used
}

// size estimates the bytes a's grants hold.
func (a *access) size() int {
	n := len(a.payload) + len(a.subject)
	for _, s := range a.publish {
		n += len(s) + 16
	}
	for _, s := range a.subscribe {
		n += len(s) + 16
	}
	for _, t := range a.publishTyped {
		n += len(t.Raw) + len(t.Kind) + 48
	}
	for _, t := range a.subscribeTyped {
		n += len(t.Raw) + len(t.Kind) + 48
	}
	for _, p := range a.payloads {
		n += len(p.payload) + 48
	}
	return n
}
