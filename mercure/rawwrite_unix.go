//go:build unix

package mercure

import "syscall"

// canRawWrite says whether rawWriteFD works here: taken-over connections
// then write without waiting, in their shard.
const canRawWrite = true

// rawWriteFD is one write(2) on the non-blocking socket fd.
func rawWriteFD(fd uintptr, b []byte) (int, error) { return syscall.Write(int(fd), b) }
