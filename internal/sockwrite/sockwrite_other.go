//go:build !unix

package sockwrite

import "errors"

// Supported is false here: every write of a taken-over connection goes
// through its blocking path (a goroutine of its own while it writes).
const Supported = false

// Write is not supported here.
func Write(fd uintptr, b []byte) (int, error) { return 0, errors.ErrUnsupported }
