//go:build !unix

package mercure

import "errors"

// canRawWrite is false here: every write of a taken-over connection goes
// through its blocking path (a goroutine of its own while it writes).
const canRawWrite = false

func rawWriteFD(fd uintptr, b []byte) (int, error) { return 0, errors.ErrUnsupported }
