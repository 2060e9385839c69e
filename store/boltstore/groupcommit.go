package boltstore

import (
	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds how many writes share one transaction, so that one
// commit's work (and so its followers' wait) stays bounded.
const maxGroup = 1000

// committer runs write functions in shared bbolt transactions. A write
// submitted while a commit is in flight joins the next one, so concurrent
// appends share one fsync, and a lone append is committed at once. bbolt's
// own Batch groups writes too, but a batch that does not fill up waits
// MaxBatchDelay (10 ms) before committing: at one append at a time that
// delay, not the disk, sets the pace.
//
// Every function is answered only after the transaction that ran it has
// committed (fsync included) or failed, so group commit loses nothing an
// answer acknowledged.
type committer struct {
	db   *bolt.DB
	reqs chan *commitReq
	done <-chan struct{}
}

type commitReq struct {
	fn  func(*bolt.Tx) error
	err chan error
}

func newCommitter(db *bolt.DB, done <-chan struct{}) *committer {
	// Unbuffered: a writer that arrives during a commit waits in its send,
	// and the next group collects every such writer.
	return &committer{db: db, reqs: make(chan *commitReq), done: done}
}

// do runs fn in a group's write transaction and returns once that
// transaction is committed. fn may run more than once (a group whose
// transaction fails is retried without the function that failed it), so it
// only sets its results. It returns bolt.ErrDatabaseNotOpen once the
// store is closing.
func (c *committer) do(fn func(*bolt.Tx) error) error {
	r := &commitReq{fn: fn, err: make(chan error, 1)}
	select {
	case c.reqs <- r:
	case <-c.done:
		return bolt.ErrDatabaseNotOpen
	}
	return <-r.err
}

// run commits groups until done is closed; the caller closes the database
// only after run has returned.
func (c *committer) run() {
	group := make([]*commitReq, 0, maxGroup)
	for {
		select {
		case r := <-c.reqs:
			group = append(group[:0], r)
		case <-c.done:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-c.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		c.commit(group)
	}
}

// commit runs group in one transaction. A function that fails rolls the
// transaction back; it is answered with its error (nothing of it was
// written) and the others are run again without it.
func (c *committer) commit(group []*commitReq) {
	for len(group) > 0 {
		failed := -1
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, r := range group {
				if err := r.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, r := range group {
				r.err <- err // nil, or the commit's own failure
			}
			return
		}
		group[failed].err <- err
		group = append(group[:failed], group[failed+1:]...)
	}
}
