package admission

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter is a token bucket per key (a token's subject, a client
// address): each key may act Rate times per second on average and Burst
// times at once. Keys whose bucket is full again are forgotten, so that
// its memory follows the keys active lately. A nil *RateLimiter allows
// everything. It is safe for concurrent use.
type RateLimiter struct {
	limit   rate.Limit
	burst   int
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	sweepAt int
}

// NewRateLimiter returns a RateLimiter of perSecond actions per key and
// burst at once; perSecond ≤ 0 returns nil, which allows everything.
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &RateLimiter{limit: rate.Limit(perSecond), burst: max(burst, 1), buckets: map[string]*rate.Limiter{}, sweepAt: 1024}
}

// Allow takes one token of key's bucket. When there is none it reports
// false and how long until there is one (a Retry-After).
func (l *RateLimiter) Allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.sweepAt {
			l.sweepLocked(now)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); !r.OK() || d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweepLocked forgets the keys whose bucket is full: forgetting them loses
// nothing. The map may then grow to twice what remains.
func (l *RateLimiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	l.sweepAt = max(2*len(l.buckets), 1024)
}
