// Package browsertest starts Debian's headless Chromium for tests that need
// a real browser: a real EventSource, real fetch, real rendering.
//
// A test that needs the browser fails, loudly, when Chromium is missing: a
// skipped browser test would hide exactly the behaviour it exists to check.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Timeout bounds every browser test's context.
const Timeout = 60 * time.Second

// ExecPath returns the Chromium binary to drive: $SSEHUB_CHROMIUM when set,
// otherwise the first of chromium and chromium-browser on PATH.
func ExecPath() (string, error) {
	if p := os.Getenv("SSEHUB_CHROMIUM"); p != "" {
		return p, nil
	}
	var err error
	for _, name := range []string{"chromium", "chromium-browser"} {
		var p string
		if p, err = exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", err
}

// Start launches a fresh headless Chromium, with its own empty profile, for
// the duration of the test and returns a chromedp context for one tab. The
// browser is closed when the test ends; its context expires after Timeout.
// extra options (e.g. chromedp.Flag("ignore-certificate-errors-spki-list",
// hash) to trust a test certificate) come after the defaults.
func Start(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path, err := ExecPath()
	if err != nil {
		t.Fatalf("browser test needs Chromium and none was found (%v).\n"+
			"Install it with `make deps` (Debian: apt-get install chromium) or set SSEHUB_CHROMIUM to its path.", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(900, 560),
	}
	opts = append(opts, extra...)
	ctx, cancelTimeout := context.WithTimeout(context.Background(), Timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	return tabCtx
}
