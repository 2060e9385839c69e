package mercure

import "testing"

func TestAcceptQuality_TheMostSpecificRangeGivesTheQuality(t *testing.T) {
	cases := []struct {
		accept        []string
		q             float64
		explicit      bool
		acceptsJSON08 bool
	}{
		{nil, 1, false, false},
		{[]string{"text/event-stream"}, 1, true, false},
		{[]string{"*/*;q=0.2"}, 0.2, false, false},
		{[]string{"text/*;q=0.5", "text/event-stream;q=0.7"}, 0.7, true, false},
		{[]string{"text/event-stream;q=0, */*"}, 0, true, false},
		{[]string{"application/json"}, 0, false, true},
		{[]string{"application/json, application/ld+json"}, 0, false, false},
		{[]string{"application/json, application/ld+json;q=0"}, 0, false, true},
		{[]string{"text/event-stream;q=2"}, 0, false, false}, // an invalid q counts as absent
		{[]string{"garbage;;;", "text/event-stream"}, 1, true, false},
	}
	for _, c := range cases {
		q, explicit := acceptQuality(c.accept, "text/event-stream")
		if q != c.q || explicit != c.explicit {
			t.Errorf("acceptQuality(%q) = %g, %v, want %g, %v", c.accept, q, explicit, c.q, c.explicit)
		}
		if got := acceptsJSONOnly(c.accept); got != c.acceptsJSON08 {
			t.Errorf("acceptsJSONOnly(%q) = %v, want %v", c.accept, got, c.acceptsJSON08)
		}
	}
}

// FuzzAcceptQuality: any Accept field gives a quality in [0, 1], without
// panicking.
func FuzzAcceptQuality(f *testing.F) {
	for _, s := range []string{"text/event-stream", "*/*;q=0.8", "text/*;q=0,text/event-stream;q=.5", `a/b;q="1"`, ";;,,", "text/event-stream;q=NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		q, _ := acceptQuality([]string{accept}, "text/event-stream")
		if !(q >= 0 && q <= 1) {
			t.Fatalf("acceptQuality(%q) = %g, want within [0, 1]", accept, q)
		}
		acceptsJSONOnly([]string{accept})
	})
}
