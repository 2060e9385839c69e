package mercure

import (
	"mime"
	"strconv"
	"strings"
)

// acceptQuality returns the quality that the Accept field values give to
// mediaType (RFC 9110 §12.5.1): that of the most specific media range
// matching it (type/subtype, then type/*, then */*), 0 when none does, and
// 1 when there is no Accept field. explicit reports whether a range names
// mediaType itself. A range that does not parse, or whose q does not,
// counts as absent.
func acceptQuality(accept []string, mediaType string) (q float64, explicit bool) {
	if len(accept) == 0 {
		return 1, false
	}
	typ, _, _ := strings.Cut(mediaType, "/")
	best := 0 // specificity of the range q comes from
	for _, v := range accept {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			spec := 0
			switch {
			case mt == mediaType:
				spec = 3
			case mt == typ+"/*":
				spec = 2
			case mt == "*/*":
				spec = 1
			}
			if spec <= best {
				continue
			}
			w := 1.0
			if s, ok := params["q"]; ok {
				if w, err = strconv.ParseFloat(s, 64); err != nil || !(w >= 0 && w <= 1) { // NaN too
					continue
				}
			}
			best, q = spec, w
		}
	}
	return q, best == 3
}

// acceptsJSONOnly reports whether the Accept field values ask for
// application/json by name and not for application/ld+json.
func acceptsJSONOnly(accept []string) bool {
	qj, json := acceptQuality(accept, "application/json")
	ql, ld := acceptQuality(accept, "application/ld+json")
	return json && qj > 0 && !(ld && ql > 0)
}
