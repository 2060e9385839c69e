package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestServe_TheConsoleIsServedOnlyWithAnOperatorKey(t *testing.T) {
	const key = "a-long-operator-key-0123456789"
	tests := []struct {
		name        string
		args        []string
		bearer      string
		wantPage    int // GET /ui/
		wantSamples int // GET /ui/events
	}{
		{"no key: no console", nil, key, http.StatusNotFound, http.StatusNotFound},
		{"a key: the login form, and samples for the operator", []string{"-ui-key", key}, key, http.StatusOK, http.StatusOK},
		{"a key: nothing for anyone else", []string{"-ui-key", key}, "", http.StatusOK, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.args...)
			defer func() {
				_ = s.cmd.Process.Signal(syscall.SIGTERM)
				s.wait(t, 15*time.Second)
			}()
			resp, err := http.Get(s.url + "/ui/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantPage {
				t.Fatalf("GET /ui/ = %d, want %d", resp.StatusCode, tt.wantPage)
			}
			req, _ := http.NewRequest("GET", s.url+"/ui/events", nil)
			if tt.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantSamples || tt.wantSamples == http.StatusOK && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("GET /ui/events = %d %s, want %d", resp.StatusCode, resp.Header.Get("Content-Type"), tt.wantSamples)
			}
		})
	}
}

func TestServe_AShortOperatorKeyIsAUsageError(t *testing.T) {
	code, _, stderr := runMain(t, "", map[string]string{"SSEHUB_UI_KEY": "short"}, "serve", "-addr", "127.0.0.1:0", "-store", "memory://")
	if code != exitUsage || !strings.Contains(stderr, "-ui-key") || !strings.Contains(stderr, "16") {
		t.Fatalf("exit %d, stderr %q; want a usage error naming -ui-key and the minimum length", code, stderr)
	}
}
