package store_test

import (
	"testing"

	"github.com/ssehub/ssehub/store"
)

func TestParseBytes_ReadsNumbersWithBinaryAndDecimalUnits(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true},
		{"64MiB", 64 << 20, true},
		{"1GiB", 1 << 30, true},
		{"500MB", 500e6, true},
		{"10KB", 10e3, true},
		{"12B", 12, true},
		{"-1", -1, true},
		{"-1MiB", 0, false},
		{"-2", 0, false},
		{"1.5GiB", 0, false},
		{"64 MiB", 0, false},
		{"64mib", 0, false},
		{"", 0, false},
		{"MiB", 0, false},
		{"9000000TiB", 0, false},
	} {
		got, err := store.ParseBytes(tt.in)
		if (err == nil) != tt.ok || tt.ok && got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormatBytes_WritesWhatParseBytesReads(t *testing.T) {
	for _, n := range []int64{0, 1, 1000, 1 << 10, 64 << 20, 1 << 30, 3 << 40, 1<<20 + 1} {
		s := store.FormatBytes(n)
		if back, err := store.ParseBytes(s); err != nil || back != n {
			t.Errorf("ParseBytes(FormatBytes(%d) = %q) = %d, %v", n, s, back, err)
		}
	}
	if got := store.FormatBytes(64 << 20); got != "64MiB" {
		t.Errorf("FormatBytes(64 MiB) = %q, want 64MiB", got)
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"1048576", "64MiB", "1GiB", "500MB", "-1", "1.5GiB", "9223372036854775807B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := store.ParseBytes(s)
		if err != nil {
			return
		}
		if n < -1 {
			t.Fatalf("ParseBytes(%q) = %d: negative beyond -1", s, n)
		}
		if n >= 0 {
			if back, err := store.ParseBytes(store.FormatBytes(n)); err != nil || back != n {
				t.Fatalf("round trip of %q: %d -> %q -> %d, %v", s, n, store.FormatBytes(n), back, err)
			}
		}
	})
}
