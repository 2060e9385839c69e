//go:build !unix

package admission

// openFilesLimit returns 0: this system has no RLIMIT_NOFILE, so only
// Config.MaxConns caps connections.
func openFilesLimit() int { return 0 }
