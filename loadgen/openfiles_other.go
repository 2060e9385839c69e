//go:build !unix

package loadgen

// RaiseOpenFiles reports no limit: this system has no RLIMIT_NOFILE, so
// subscribers are not capped ahead of time.
func RaiseOpenFiles() (OpenFiles, error) { return OpenFiles{}, nil }
