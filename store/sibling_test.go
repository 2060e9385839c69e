package store

import "testing"

func TestSibling_KeepsTheKindAndPlaceUnderAnotherName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"memory://?size=10", "memory://"},
		{"bolt://ssehub.db", "bolt://ssehub-streams.db"},
		{"bolt:///var/lib/ssehub/hub.db?size=5&timeout=2s", "bolt:///var/lib/ssehub/hub-streams.db?timeout=2s"},
		{"redis://127.0.0.1:6379/0?age=1h", "redis://127.0.0.1:6379/0?key=ssehub-streams"},
		{"redis://:pw@127.0.0.1:6379/2?key=app&pool_size=4", "redis://:pw@127.0.0.1:6379/2?key=app-streams&pool_size=4"},
		{"nats://127.0.0.1:4222?hub=a&size=3", "nats://127.0.0.1:4222?hub=a&stream=SSEHUB_STREAMS"},
		{"bolt://ssehub.db?bytes=1GiB&age=24h", "bolt://ssehub-streams.db"},
		{"nats://127.0.0.1:4222?stream=X", "nats://127.0.0.1:4222?stream=X_STREAMS"},
	}
	for _, tt := range tests {
		got, err := Sibling(tt.in, "streams")
		if err != nil || got != tt.want {
			t.Errorf("Sibling(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"no-scheme", "ftp://x", "redis://%zz"} {
		if _, err := Sibling(bad, "streams"); err == nil {
			t.Errorf("Sibling(%q) accepted it", bad)
		}
	}
}
