//go:build unix

package sockwrite

import "syscall"

// Supported says whether Write works here: taken-over connections then
// write without waiting, from the goroutine that serves many of them.
const Supported = true

// Write is one write(2) on the non-blocking socket fd.
func Write(fd uintptr, b []byte) (int, error) { return syscall.Write(int(fd), b) }
