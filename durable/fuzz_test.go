package durable

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
)

// FuzzParseOffset: any string either fails with ErrMalformedOffset or is a
// sentinel or formats back to itself (one wire form per position).
func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"-1", "now", FormatOffset(0), FormatOffset(123456), "0_0", "", "../x", "0000000000000000_00000000000000a1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pos, now, err := ParseOffset(s)
		switch {
		case err != nil:
		case now:
			if s != OffsetNow {
				t.Fatalf("%q parsed as now", s)
			}
		case s == OffsetStart:
			if pos != 0 {
				t.Fatalf("-1 parsed as %d", pos)
			}
		case FormatOffset(pos) != s:
			t.Fatalf("%q parsed as %d, which formats as %q", s, pos, FormatOffset(pos))
		}
	})
}

// FuzzParseDecimal: accepted values are exactly the canonical decimals of
// safe integers.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "3600", "03600", "+1", "3.6e3", "9007199254740991", "9007199254740992", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := parseDecimal(s)
		if !ok {
			return
		}
		if n > 1<<53-1 {
			t.Fatalf("%q accepted as %d, over 2^53-1", s, n)
		}
		if got := strconv.FormatUint(n, 10); got != s {
			t.Fatalf("%q accepted as %d, whose canonical form is %q", s, n, got)
		}
	})
}

// FuzzFlattenJSON: a body is accepted only when it is valid JSON, and its
// record splits back into the same messages.
func FuzzFlattenJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,[2,3]]`, `[]`, `[[[1]]]`, `"x"`, `[1,`, ` [ {"a" : "b"} ] `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := flattenJSON(b)
		if err != nil {
			if json.Valid(b) {
				t.Fatalf("valid JSON %q refused: %v", b, err)
			}
			return
		}
		if len(msgs) == 0 {
			return
		}
		back, err := SplitJSON(joinJSON(msgs))
		if err != nil || len(back) != len(msgs) {
			t.Fatalf("record of %q splits into %d messages (%v), want %d", b, len(back), err, len(msgs))
		}
		for i := range msgs {
			var want bytes.Buffer
			json.Compact(&want, msgs[i])
			if !bytes.Equal(back[i], want.Bytes()) {
				t.Fatalf("message %d: %q, want %q", i, back[i], want.Bytes())
			}
		}
	})
}
