package mercure

import (
	"net/http"
	"time"
)

// writeDeadline keeps the write deadline of a stream served by its own
// goroutine (HTTP/2, HTTP/3, TLS). Over HTTP/2 every change of a stream's
// deadline is a message to the connection's goroutine and a new timer, so
// setting and clearing it around every write would cost two of them per
// update. Instead the deadline moves only when less than the timeout is
// left, which gives every write between one and one and a half timeouts,
// and it is cleared once the stream has been idle for half of what was
// left: an expired deadline would reset an idle HTTP/2 stream and fail the
// final chunk of an HTTP/1.1 one.
type writeDeadline struct {
	rc      *http.ResponseController
	timeout time.Duration
	at      time.Time   // zero: no deadline set
	idle    *time.Timer // fires when the deadline should be cleared
}

func newWriteDeadline(rc *http.ResponseController, timeout time.Duration) *writeDeadline {
	d := &writeDeadline{rc: rc, timeout: timeout, idle: time.NewTimer(timeout)}
	d.idle.Stop()
	return d
}

// arm makes sure the next write has at least the timeout.
func (d *writeDeadline) arm() {
	now := time.Now()
	if d.at.Sub(now) < d.timeout {
		d.at = now.Add(d.timeout + d.timeout/2)
		_ = d.rc.SetWriteDeadline(d.at)
	}
}

// wrote restarts the wait for idleness after a successful write.
func (d *writeDeadline) wrote() {
	d.idle.Reset(time.Until(d.at) / 2)
}

// idleC delivers when the stream has been idle long enough for clear.
func (d *writeDeadline) idleC() <-chan time.Time { return d.idle.C }

// clear removes the deadline, if one is set.
func (d *writeDeadline) clear() {
	d.idle.Stop()
	if !d.at.IsZero() {
		_ = d.rc.SetWriteDeadline(time.Time{})
		d.at = time.Time{}
	}
}
