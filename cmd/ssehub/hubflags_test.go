package main

import (
	"io"
	"slices"
	"testing"
)

func TestAddHubFlags_CommandLineAndEnvironment(t *testing.T) {
	env := map[string]string{"SSEHUB_PUBLISHER_JWT_KEY": "from-env", "SSEHUB_MAX_TOPICS": "7", "SSEHUB_IDEMPOTENCY_KEEP": "2h", "SSEHUB_DRAFT": "08"}
	m := &Main{Stderr: io.Discard, Getenv: func(k string) string { return env[k] }}
	fs := m.newFlagSet("serve", "ssehub serve")
	c := addHubFlags(fs)
	err := m.parseFlags(fs, []string{"-subscriber-jwt-key", "sub", "-anonymous", "-cors-origins", "https://a.test, https://b.test", "-heartbeat", "3s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.PublisherJWTKey != "from-env" || c.SubscriberJWTKey != "sub" || !c.Anonymous || c.MaxTopics != 7 || c.Heartbeat.Seconds() != 3 || c.IdempotencyKeep.Hours() != 2 || c.Draft != "08" {
		t.Fatalf("config = %+v", c)
	}
	if !slices.Equal(c.CORSOrigins, []string{"https://a.test", "https://b.test"}) {
		t.Fatalf("CORSOrigins = %q", c.CORSOrigins)
	}
}

func TestAddHubFlags_JWTKeySetsBoth(t *testing.T) {
	m := &Main{Stderr: io.Discard}
	fs := m.newFlagSet("serve", "ssehub serve")
	c := addHubFlags(fs)
	if err := m.parseFlags(fs, []string{"-jwt-key", "k"}); err != nil {
		t.Fatal(err)
	}
	if c.PublisherJWTKey != "k" || c.SubscriberJWTKey != "k" || c.HistorySize != 0 || c.HistoryBytes != 0 {
		t.Fatalf("config = %+v", c)
	}
}

func TestAddHubFlags_MatchingAndPublishLimits(t *testing.T) {
	env := map[string]string{"SSEHUB_MAX_SELECTOR_BYTES": "300", "SSEHUB_MAX_ID_BYTES": "64"}
	m := &Main{Stderr: io.Discard, Getenv: func(k string) string { return env[k] }}
	fs := m.newFlagSet("serve", "ssehub serve")
	c := addHubFlags(fs)
	err := m.parseFlags(fs, []string{"-max-selector-variables", "4", "-max-selector-program", "100",
		"-selector-cache-bytes", "1000000", "-max-type-bytes", "32", "-publish-timeout", "2s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxSelectorBytes != 300 || c.MaxSelectorVariables != 4 || c.MaxSelectorProgram != 100 || c.SelectorCacheBytes != 1000000 ||
		c.MaxIDBytes != 64 || c.MaxTypeBytes != 32 || c.PublishTimeout.Seconds() != 2 {
		t.Fatalf("config = %+v", c)
	}
}
