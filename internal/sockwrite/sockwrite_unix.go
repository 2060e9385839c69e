//go:build unix

package sockwrite

import "syscall"

// Supported says whether a Writer works here: taken-over connections then
// write without waiting, from the goroutine that serves many of them.
const Supported = true

// write is one write(2) on the non-blocking socket fd.
func write(fd uintptr, b []byte) (int, error) { return syscall.Write(int(fd), b) }
