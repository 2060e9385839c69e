// Package codec encodes hub updates for the durable stores, the same way in
// each: JSON of the fields a store does not keep apart (Seq is the store's
// position, so it is never encoded).
package codec

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ssehub/ssehub/hub"
)

// record is the stored form of an update.
type record struct {
	ID      string   `json:"id"`
	Topics  []string `json:"topics"`
	Data    string   `json:"data,omitempty"`
	Type    string   `json:"type,omitempty"`
	Retry   int64    `json:"retry,omitempty"` // milliseconds
	Private bool     `json:"private,omitempty"`
	Time    int64    `json:"time"` // Unix nanoseconds
}

// Marshal encodes u, without its Seq.
func Marshal(u *hub.Update) ([]byte, error) {
	b, err := json.Marshal(record{ID: u.ID, Topics: u.Topics, Data: u.Data, Type: u.Type,
		Retry: u.Retry.Milliseconds(), Private: u.Private, Time: u.Time.UnixNano()})
	if err != nil {
		return nil, fmt.Errorf("codec: encode update %q: %w", u.ID, err)
	}
	return b, nil
}

// Unmarshal decodes b into a new Update at position seq.
func Unmarshal(b []byte, seq uint64) (*hub.Update, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("codec: decode update at seq %d: %w", seq, err)
	}
	return &hub.Update{ID: r.ID, Topics: r.Topics, Data: r.Data, Type: r.Type,
		Retry: time.Duration(r.Retry) * time.Millisecond, Private: r.Private,
		Seq: seq, Time: time.Unix(0, r.Time)}, nil
}
