package sockwrite

import (
	"net"
	"syscall"
)

// A Writer writes to one socket without waiting for it to become writable:
// as much as the socket's buffer takes now. It is not safe for concurrent
// use; its zero value writes nothing (see Init).
type Writer struct {
	raw syscall.RawConn
	fn  func(fd uintptr) bool // w.writeOnce, bound once

	// The write in progress, for fn.
	buf []byte
	n   int
	err error
}

// Init sets w up to write to conn. It reports false when conn has no
// descriptor to write to without waiting (a TLS connection, say, or any
// connection where Supported is false): w then writes nothing, and the
// caller writes through conn itself.
func (w *Writer) Init(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok || !Supported {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	w.raw, w.fn = raw, w.writeOnce
	return true
}

// Write writes as much of b as the socket takes now and reports how much:
// n < len(b) with a nil error means the socket's buffer is full. A Writer
// that Init did not set up writes nothing and reports 0, nil.
func (w *Writer) Write(b []byte) (n int, err error) {
	if w.raw == nil {
		return 0, nil
	}
	w.buf, w.n, w.err = b, 0, nil
	err = w.raw.Write(w.fn)
	w.buf = nil
	if err != nil {
		return 0, err
	}
	return w.n, w.err
}

// writeOnce is the callback of Write: write(2) until the socket takes no
// more, never waiting for it to become writable (returning true tells the
// runtime not to).
func (w *Writer) writeOnce(fd uintptr) bool {
	for w.n < len(w.buf) {
		n, err := write(fd, w.buf[w.n:])
		if n > 0 {
			w.n += n
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return true
		case err != nil:
			w.err = err
			return true
		case n <= 0:
			return true
		}
	}
	return true
}
