package boltstore

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestCommitter_AFailingWriteIsAnsweredAloneAndTheRestOfItsGroupCommits(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	done := make(chan struct{})
	defer close(done)
	c := newCommitter(db, done)
	put := func(key string, fail error) *commitReq {
		return &commitReq{err: make(chan error, 1), fn: func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			if err := b.Put([]byte(key), []byte("v")); err != nil {
				return err
			}
			return fail
		}}
	}
	boom := errors.New("boom")
	group := []*commitReq{put("a", nil), put("bad", boom), put("c", nil)}
	c.commit(slices.Clone(group)) // commit reorders its slice
	for i, want := range []error{nil, boom, nil} {
		if err := <-group[i].err; !errors.Is(err, want) {
			t.Errorf("write %d answered %v, want %v", i, err, want)
		}
	}
	_ = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("b"))
		for key, want := range map[string]bool{"a": true, "bad": false, "c": true} {
			if got := b != nil && b.Get([]byte(key)) != nil; got != want {
				t.Errorf("key %q stored: %v, want %v", key, got, want)
			}
		}
		return nil
	})
}

func TestCommitter_WritesAfterCloseAreRefused(t *testing.T) {
	s, err := OpenStreams(filepath.Join(t.TempDir(), "s.db"), StreamsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.commit.do(func(*bolt.Tx) error { return nil }); !errors.Is(err, bolt.ErrDatabaseNotOpen) {
		t.Fatalf("a write after Close: %v, want bolt.ErrDatabaseNotOpen", err)
	}
}
