package durable

import (
	"errors"
	"fmt"
	"strconv"
)

// Offsets on the wire are "0000000000000000_" followed by the position as
// 16 decimal digits: fixed width, so that lexicographic order is position
// order (§8), and the form the conformance suite writes for position 0.
// The first part is reserved (always zero) for a future segment number.
const offsetPrefix = "0000000000000000_"

// Offset sentinels of §8.
const (
	OffsetStart = "-1"
	OffsetNow   = "now"
)

// ErrMalformedOffset is wrapped by ParseOffset's errors.
var ErrMalformedOffset = errors.New("durable: malformed offset")

// FormatOffset returns the wire offset of position pos.
func FormatOffset(pos uint64) string {
	return fmt.Sprintf("%s%016d", offsetPrefix, pos)
}

// ParseOffset parses a wire offset: "-1" is position 0 and now is true for
// "now" (the caller substitutes the tail). Anything else than the two
// sentinels and FormatOffset's form is ErrMalformedOffset.
func ParseOffset(s string) (pos uint64, now bool, err error) {
	switch s {
	case OffsetStart:
		return 0, false, nil
	case OffsetNow:
		return 0, true, nil
	}
	if len(s) != len(offsetPrefix)+16 || s[:len(offsetPrefix)] != offsetPrefix {
		return 0, false, fmt.Errorf("%w: %q", ErrMalformedOffset, s)
	}
	digits := s[len(offsetPrefix):]
	for i := range len(digits) {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false, fmt.Errorf("%w: %q", ErrMalformedOffset, s)
		}
	}
	pos, err = strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%w: %q", ErrMalformedOffset, s)
	}
	return pos, false, nil
}
