package console

import (
	"strings"
	"testing"
	"time"
)

func TestQuantile_InterpolatesWithinTheBucketAsPrometheusDoes(t *testing.T) {
	bounds := []float64{1, 2, 5}
	tests := []struct {
		name   string
		q      float64
		counts []uint64
		want   float64 // -1: nil
	}{
		{"no writes: no quantile", 0.5, []uint64{0, 0, 0, 0}, -1},
		{"all in the first bucket: from 0 to its bound", 0.5, []uint64{10, 0, 0, 0}, 0.5},
		{"the median in the second bucket", 0.5, []uint64{2, 4, 4, 0}, 1.75},
		{"p99 in the third bucket", 0.99, []uint64{50, 0, 50, 0}, 4.94},
		{"beyond the last bound: the last bound", 0.99, []uint64{1, 0, 0, 9}, 5},
		{"counts that do not match the bounds: none", 0.5, []uint64{1, 1}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := quantile(tt.q, bounds, tt.counts)
			switch {
			case tt.want < 0 && got != nil:
				t.Fatalf("quantile = %v, want none", *got)
			case tt.want >= 0 && (got == nil || *got < tt.want-1e-9 || *got > tt.want+1e-9):
				t.Fatalf("quantile = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzSession feeds arbitrary cookie values to the session check: none is
// accepted but a token the console made with its key, and none panics.
func FuzzSession(f *testing.F) {
	c := &Console{cfg: Config{Key: "fuzzing-operator-key"}}
	future := time.Now().Add(time.Hour)
	f.Add(c.session(future))
	f.Add("9999999999.")
	f.Add("")
	f.Add("1.2.3")
	f.Fuzz(func(t *testing.T, tok string) {
		ok := c.validSession(tok, time.Now())
		if !ok {
			return
		}
		exp, _, _ := strings.Cut(tok, ".")
		if tok != exp+"."+c.mac(exp) {
			t.Fatalf("accepted %q, which the console did not sign", tok)
		}
	})
}
