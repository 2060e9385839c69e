//go:build !unix

package loadgen

import "time"

// readSelf cannot read this process's CPU time here: the run reports no
// Generator figures.
func readSelf() selfSample { return selfSample{at: time.Now()} }
