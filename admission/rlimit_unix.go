//go:build unix

package admission

import (
	"math"
	"syscall"
)

// openFilesLimit returns the soft RLIMIT_NOFILE (which the Go runtime
// raises to the hard limit at start-up), or 0 when it cannot be read or is
// unlimited.
func openFilesLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > math.MaxInt32 {
		return 0
	}
	return int(rl.Cur)
}
