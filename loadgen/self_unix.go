//go:build unix

package loadgen

import (
	"syscall"
	"time"
)

// readSelf reads this process's CPU time (user plus system).
func readSelf() selfSample {
	var ru syscall.Rusage
	s := selfSample{at: time.Now()}
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		s.ok = true
	}
	return s
}
