package store

import (
	"fmt"
	"strconv"
	"strings"
)

// byteUnits are the units ParseBytes knows, longest first so that "MiB"
// is not read as "B".
var byteUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseBytes reads a size such as 1048576, 64MiB, 1GiB or 500MB (binary
// units KiB…TiB, decimal KB…TB, case-sensitive, no space); -1 means no
// bound. It refuses fractions, other negative values and sizes that
// overflow an int64.
func ParseBytes(s string) (int64, error) {
	num, factor := s, int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, factor = strings.TrimSuffix(s, u.suffix), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	switch {
	case err != nil:
		return 0, fmt.Errorf("size %q is not a whole number of bytes with an optional unit (64MiB, 1GiB, 500MB)", s)
	case n == -1 && factor == 1:
		return -1, nil
	case n < 0:
		return 0, fmt.Errorf("size %q is negative (-1 means no bound)", s)
	case n > (1<<63-1)/factor:
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * factor, nil
}

// FormatBytes writes n the way ParseBytes reads it, in the largest binary
// unit that divides it.
func FormatBytes(n int64) string {
	for i := 3; i >= 0; i-- {
		u := byteUnits[i]
		if n != 0 && n%u.factor == 0 {
			return strconv.FormatInt(n/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
