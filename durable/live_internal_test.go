package durable

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestAppendControl_IsTheJSONOfTheControlEvent(t *testing.T) {
	// control is the JSON shape of §5.8 that the conformance suite reads.
	type control struct {
		StreamNextOffset string `json:"streamNextOffset"`
		StreamCursor     string `json:"streamCursor,omitempty"`
		UpToDate         bool   `json:"upToDate,omitempty"`
		StreamClosed     bool   `json:"streamClosed,omitempty"`
	}
	for _, c := range []control{
		{StreamNextOffset: FormatOffset(0), StreamCursor: "123", UpToDate: true},
		{StreamNextOffset: FormatOffset(42), StreamCursor: "7"},
		{StreamNextOffset: FormatOffset(42), UpToDate: true, StreamClosed: true},
		{StreamNextOffset: FormatOffset(1 << 40), StreamClosed: true},
	} {
		js, _ := json.Marshal(c)
		want := "event: control\ndata:" + string(js) + "\n\n"
		if got := appendControl(nil, c.StreamNextOffset, []byte(c.StreamCursor), c.UpToDate, c.StreamClosed); !bytes.Equal(got, []byte(want)) {
			t.Errorf("appendControl(%+v) = %q, want %q", c, got, want)
		}
	}
}
