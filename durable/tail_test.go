package durable_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/durable/durabletest"
	"github.com/ssehub/ssehub/store/memory"
)

// readCounter is a memory store that counts its reads.
type readCounter struct {
	durable.Store
	reads atomic.Int64
}

func (c *readCounter) Read(ctx context.Context, name string, req durable.ReadRequest) (durable.ReadResult, error) {
	c.reads.Add(1)
	return c.Store.Read(ctx, name, req)
}

// sseEvents reads SSE events from a response, sending each (its lines
// joined) on the returned channel until the response ends.
func sseEvents(t *testing.T, res *http.Response) <-chan string {
	t.Helper()
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		r := bufio.NewReader(res.Body)
		var ev strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\n" {
				ch <- ev.String()
				ev.Reset()
				continue
			}
			ev.WriteString(line)
		}
	}()
	return ch
}

func TestServer_AnSSECatchUpLargerThanOneReadCarriesEachRecordOnce(t *testing.T) {
	base := serve(t, durable.Config{MaxReadBytes: 4})
	do(t, "PUT", base+"s", "aaaa", "Content-Type", "text/plain")
	do(t, "POST", base+"s", "bbbb", "Content-Type", "text/plain")
	do(t, "POST", base+"s", "cccc", "Content-Type", "text/plain", "Stream-Closed", "true")
	var data []string
	for ev := range sseEvents(t, do(t, "GET", base+"s?offset=-1&live=sse", "")) {
		if d, ok := strings.CutPrefix(ev, "event: data\ndata:"); ok {
			data = append(data, strings.TrimSuffix(d, "\n"))
		}
		if len(data) > 3 {
			break
		}
	}
	if got := strings.Join(data, ","); got != "aaaa,bbbb,cccc" {
		t.Fatalf("data events %s, want aaaa,bbbb,cccc", got)
	}
}

func TestServer_LiveSSEReadersOfOneStreamShareOneStoreReadPerAppend(t *testing.T) {
	const readers, appends = 40, 10
	st := &readCounter{Store: memory.NewStreams(memory.StreamsOptions{})}
	t.Cleanup(func() { st.Close() })
	u := durabletest.Serve(t, durable.Config{Store: st}) + "s"
	do(t, "PUT", u, "", "Content-Type", "text/plain")

	events := make([]<-chan string, readers)
	for i := range events {
		events[i] = sseEvents(t, do(t, "GET", u+"?offset=-1&live=sse", ""))
		if ev := <-events[i]; !strings.Contains(ev, `"upToDate":true`) {
			t.Fatalf("reader %d: first event %q, want an up-to-date control", i, ev)
		}
	}
	before := st.reads.Load()
	var wg sync.WaitGroup
	for n := range appends {
		want := fmt.Sprintf("event: data\ndata:m%d\n", n)
		headers := []string{"Content-Type", "text/plain"}
		if n == appends-1 {
			headers = append(headers, "Stream-Closed", "true")
		}
		do(t, "POST", u, fmt.Sprintf("m%d", n), headers...)
		for i, ch := range events {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if ev := <-ch; ev != want {
					t.Errorf("reader %d: event %q, want %q", i, ev, want)
				}
				if ev := <-ch; !strings.Contains(ev, "event: control") {
					t.Errorf("reader %d: event %q, want its control", i, ev)
				}
			}()
		}
		wg.Wait()
	}
	for i, ch := range events {
		select {
		case ev, ok := <-ch:
			if ok {
				t.Fatalf("reader %d: event %q after the closing control", i, ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("reader %d: the response did not end at the closure", i)
		}
	}
	if reads := st.reads.Load() - before; reads > 2*appends {
		t.Fatalf("%d store reads for %d appends to %d live readers, want at most %d (one per change, shared)", reads, appends, readers, 2*appends)
	}
}

func TestServer_DeletingAStreamEndsItsSharedSSEReaders(t *testing.T) {
	base := serve(t, durable.Config{})
	do(t, "PUT", base+"s", "", "Content-Type", "text/plain")
	var chs []<-chan string
	for range 5 {
		ch := sseEvents(t, do(t, "GET", base+"s?offset=now&live=sse", ""))
		<-ch
		chs = append(chs, ch)
	}
	do(t, "DELETE", base+"s", "")
	for i, ch := range chs {
		for ev := range ch {
			t.Errorf("reader %d: event %q after the deletion", i, ev)
		}
	}
}
