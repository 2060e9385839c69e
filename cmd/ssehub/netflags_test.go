package main

import (
	"io"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ssehub/ssehub/admission"
	"github.com/ssehub/ssehub/mercure"
)

func TestAddNetFlags_DefaultsAreTheNamedOnes(t *testing.T) {
	m := &Main{Stderr: io.Discard}
	fs := m.newFlagSet("serve", "ssehub serve")
	hub := &mercure.Config{}
	n := addNetFlags(fs, hub)
	if err := m.parseFlags(fs, nil); err != nil {
		t.Fatal(err)
	}
	a := n.admission
	if a.MaxConns != admission.DefaultMaxConns || a.MaxConnsPerClient != admission.DefaultMaxConnsPerClient ||
		a.ConnRate != admission.DefaultConnRate || a.ConnBurst != admission.DefaultConnBurst ||
		a.FDReserve != admission.DefaultFDReserve || a.IPv6Prefix != admission.DefaultIPv6Prefix || a.TrustedProxies != nil {
		t.Fatalf("admission config %+v", a)
	}
	var srv http.Server
	n.apply(&srv)
	if srv.MaxHeaderBytes != defaultMaxHeaderBytes || srv.ReadHeaderTimeout != defaultReadHeaderTimeout || srv.IdleTimeout != defaultIdleTimeout {
		t.Fatalf("server limits %d, %s, %s", srv.MaxHeaderBytes, srv.ReadHeaderTimeout, srv.IdleTimeout)
	}
	if hub.BodyTimeout != mercure.DefaultBodyTimeout || hub.PublishRate != mercure.DefaultPublishRate || hub.PublishBurst != mercure.DefaultPublishBurst {
		t.Fatalf("hub limits %s, %g, %d", hub.BodyTimeout, hub.PublishRate, hub.PublishBurst)
	}
}

func TestAddNetFlags_EveryLimitComesFromTheCommandLineOrTheEnvironment(t *testing.T) {
	env := map[string]string{
		"SSEHUB_MAX_CONNS": "7", "SSEHUB_CONN_RATE": "2.5", "SSEHUB_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1",
		"SSEHUB_IDLE_TIMEOUT": "5s", "SSEHUB_PUBLISH_RATE": "3", "SSEHUB_BODY_TIMEOUT": "4s",
	}
	m := &Main{Stderr: io.Discard, Getenv: func(k string) string { return env[k] }}
	fs := m.newFlagSet("serve", "ssehub serve")
	hub := &mercure.Config{}
	n := addNetFlags(fs, hub)
	err := m.parseFlags(fs, []string{"-max-conns-per-client", "3", "-conn-burst", "4", "-fd-reserve", "50",
		"-client-ipv6-prefix", "56", "-max-header-bytes", "9000", "-read-header-timeout", "2s", "-publish-burst", "6"})
	if err != nil {
		t.Fatal(err)
	}
	a := n.admission
	if a.MaxConns != 7 || a.MaxConnsPerClient != 3 || a.ConnRate != 2.5 || a.ConnBurst != 4 || a.FDReserve != 50 || a.IPv6Prefix != 56 {
		t.Fatalf("admission config %+v", a)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}; !slices.Equal(a.TrustedProxies, want) {
		t.Fatalf("trusted proxies %v, want %v", a.TrustedProxies, want)
	}
	if n.maxHeaderBytes != 9000 || n.readHeaderTimeout != 2*time.Second || n.idleTimeout != 5*time.Second {
		t.Fatalf("server limits %+v", n)
	}
	if hub.BodyTimeout != 4*time.Second || hub.PublishRate != 3 || hub.PublishBurst != 6 {
		t.Fatalf("hub limits %s, %g, %d", hub.BodyTimeout, hub.PublishRate, hub.PublishBurst)
	}
}

func TestAddNetFlags_ZeroTurnsALimitOffAndBadValuesAreUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"every limit off", []string{"-max-conns", "0", "-max-conns-per-client", "0", "-conn-rate", "0", "-fd-reserve", "0", "-publish-rate", "0", "-body-timeout", "0"}, false},
		{"a trusted proxy that is not a CIDR", []string{"-trusted-proxies", "proxy.example"}, true},
		{"a negative descriptor reserve", []string{"-fd-reserve", "-1"}, true},
		{"an IPv6 prefix longer than 128", []string{"-client-ipv6-prefix", "129"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &Main{Stderr: io.Discard}
			fs := m.newFlagSet("serve", "ssehub serve")
			hub := &mercure.Config{}
			n := addNetFlags(fs, hub)
			err := m.parseFlags(fs, tt.args)
			if err == nil {
				_, err = n.guard()
				hubLimits(hub)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tt.wantErr)
			}
			if !tt.wantErr && (hub.PublishRate >= 0 || hub.BodyTimeout >= 0) {
				t.Fatalf("hub limits %g, %s: want them off (negative)", hub.PublishRate, hub.BodyTimeout)
			}
		})
	}
}
