package resumable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ssehub/ssehub/durable"
)

// The durable store has no listing (a store never scans other streams), so
// the answers started are recorded in index streams of their own, one per
// period of TTL: "<prefix>index/<n>" holds {"id","at"} for each answer
// started in the n-th period since the Unix epoch, and expires at the end
// of the next one, when every answer it names has been idle for a TTL at
// least. A listing reads the current and the previous period, so the index
// costs one small append per answer and never grows past two periods.

// indexEntry is one answer in an index stream.
type indexEntry struct {
	ID string `json:"id"`
	At int64  `json:"at"` // Unix milliseconds
}

func (s *Streams) period(t time.Time) int64 { return t.Unix() / int64(s.opts.TTL/time.Second) }

func (s *Streams) indexName(period int64) string {
	return s.opts.Prefix + "index/" + strconv.FormatInt(period, 10)
}

// index records answer id, started at at, in its period's index stream.
func (s *Streams) index(ctx context.Context, id string, at time.Time) error {
	n := s.period(at)
	name := s.indexName(n)
	entry, _ := json.Marshal(indexEntry{ID: id, At: at.UnixMilli()}) // strings and numbers always encode
	req := durable.AppendRequest{ContentType: ContentType, Data: entry, Units: 1}
	for range 2 {
		if s.indexed.Load() != n {
			// Every node asks for the same expiry, so creating an existing
			// index is an idempotent re-create.
			expires := time.Unix((n+2)*int64(s.opts.TTL/time.Second), 0)
			if _, err := s.store.Create(ctx, name, durable.CreateRequest{StreamConfig: durable.StreamConfig{
				ContentType: ContentType, ContentTypeGiven: true, ExpiresAt: expires}}); err != nil {
				return fmt.Errorf("creating index %s: %w", name, err)
			}
			s.indexed.Store(n)
		}
		_, err := s.store.Append(ctx, name, req)
		if !errors.Is(err, durable.ErrNotFound) {
			return err
		}
		s.indexed.Store(-1) // deleted under us: create it again
	}
	return fmt.Errorf("index %s: %w", name, durable.ErrNotFound)
}

// Answer describes one answer, for tools that list them (the console).
type Answer struct {
	// ID is the answer's id; Name its durable stream's name.
	ID, Name string
	// Events is how many events it holds, the terminal one included.
	Events int
	// Closed says it ended; End is then its terminal event's type.
	Closed bool
	End    string
	// Followers is how many responses of this node follow it now.
	Followers int
	// Started is when it started; Used when it was last written or read.
	Started, Used time.Time
}

// Answers lists up to limit answers started within the last TTL or two,
// newest first, leaving out those that expired since.
func (s *Streams) Answers(ctx context.Context, limit int) ([]Answer, error) {
	now := s.period(time.Now())
	var entries []indexEntry
	for n := now; n >= now-1 && len(entries) < limit; n-- {
		got, err := s.readIndex(ctx, s.indexName(n), limit-len(entries))
		if err != nil {
			return nil, err
		}
		entries = append(entries, got...)
	}
	out := []Answer{}
	for _, e := range entries {
		a, err := s.describe(ctx, e)
		if errors.Is(err, durable.ErrNotFound) || errors.Is(err, durable.ErrGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// readIndex returns the newest limit entries of index name, newest first.
func (s *Streams) readIndex(ctx context.Context, name string, limit int) ([]indexEntry, error) {
	info, err := s.store.Stat(ctx, name)
	if errors.Is(err, durable.ErrNotFound) || errors.Is(err, durable.ErrGone) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resumable: reading index %s: %w", name, err)
	}
	var out []indexEntry
	pos := info.Tail - min(info.Tail, uint64(limit))
	for pos < info.Tail {
		res, err := s.store.Read(ctx, name, durable.ReadRequest{From: pos, MaxBytes: readBytes})
		if err != nil {
			return nil, fmt.Errorf("resumable: reading index %s: %w", name, err)
		}
		if res.ID != info.ID || res.Next == pos {
			break
		}
		for _, r := range res.Records {
			msgs, err := durable.SplitJSON(r.Data)
			if err != nil {
				return nil, fmt.Errorf("resumable: index %s: %w", name, err)
			}
			for _, m := range msgs {
				var e indexEntry
				if json.Unmarshal(m, &e) == nil && e.ID != "" {
					out = append(out, e)
				}
			}
		}
		pos = res.Next
	}
	slices.Reverse(out)
	return out, nil
}

// describe returns what the store knows of the answer of e.
func (s *Streams) describe(ctx context.Context, e indexEntry) (Answer, error) {
	name := s.Name(e.ID)
	info, err := s.store.Stat(ctx, name)
	if err != nil {
		return Answer{}, err
	}
	a := Answer{ID: e.ID, Name: name, Events: int(info.Tail), Closed: info.Closed, Started: time.UnixMilli(e.At)}
	if !info.Expiry.IsZero() && info.TTL > 0 {
		a.Used = info.Expiry.Add(-info.TTL)
	}
	if info.Closed && info.Tail > 0 {
		res, err := s.store.Read(ctx, name, durable.ReadRequest{From: info.Tail - 1, MaxBytes: readBytes})
		if err != nil {
			return Answer{}, err
		}
		if evs, err := decodeRecords(e.ID, res.Records); err == nil && len(evs) > 0 {
			a.End = evs[len(evs)-1].Type
		}
	}
	s.mu.Lock()
	a.Followers = s.followers[e.ID]
	s.mu.Unlock()
	return a, nil
}
