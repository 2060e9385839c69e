package sse

import "testing"

// The expectations follow the WHATWG Encoding standard's UTF-8 decoder,
// which replaces each maximal ill-formed subsequence with one U+FFFD.
func TestAppendUTF8_FollowsTheWHATWGDecoder(t *testing.T) {
	const r = "\uFFFD"
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"故人", "故人"},
		{"\xFF", r},
		{"a\x80b", "a" + r + "b"},
		{"\xC2", r},                         // truncated 2-byte sequence at the end
		{"\xE2\x82", r},                     // truncated 3-byte sequence: one replacement
		{"\xE2\x82A", r + "A"},              // ... followed by ASCII
		{"\xF0\x90\x80", r},                 // truncated 4-byte sequence
		{"\xF0\x90\x80A", r + "A"},          // ... followed by ASCII
		{"\xC0\xAF", r + r},                 // overlong: C0 never starts a sequence
		{"\xE0\x80\x80", r + r + r},         // overlong 3-byte: E0 needs A0..BF next
		{"\xED\xA0\x80", r + r + r},         // surrogate: ED needs 80..9F next
		{"\xF4\x90\x80\x80", r + r + r + r}, // above U+10FFFF
		{"\xF5\x80", r + r},                 // F5 never starts a sequence
		{"\xE2\x28\xA1", r + "(" + r},       // the bad byte starts afresh
		{"\xF0\x9F\x98\x80", "😀"},
	}
	for _, tt := range tests {
		if got := string(appendUTF8(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("decode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
