//go:build unix

package loadgen

import (
	"fmt"
	"syscall"
)

// RaiseOpenFiles raises the soft open-files limit to the hard limit and
// returns the limit now in force.
func RaiseOpenFiles() (OpenFiles, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return OpenFiles{}, fmt.Errorf("reading the open-files limit: %w", err)
	}
	if lim.Cur >= lim.Max {
		return OpenFiles{Limit: lim.Cur}, nil
	}
	raised := syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		return OpenFiles{Limit: lim.Cur}, fmt.Errorf("raising the open-files limit from %d to %d: %w", lim.Cur, lim.Max, err)
	}
	return OpenFiles{Limit: lim.Max, Raised: true}, nil
}
