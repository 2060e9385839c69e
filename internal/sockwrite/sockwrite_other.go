//go:build !unix

package sockwrite

import "errors"

// Supported is false here: Init declines every connection, and every
// write of a taken-over connection goes through its blocking path (a
// goroutine of its own while it writes).
const Supported = false

func write(fd uintptr, b []byte) (int, error) { return 0, errors.ErrUnsupported }
