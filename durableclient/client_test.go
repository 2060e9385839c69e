package durableclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ssehub/ssehub/durable"
	"github.com/ssehub/ssehub/durable/durabletest"
	"github.com/ssehub/ssehub/durableclient"
	"github.com/ssehub/ssehub/store/memory"
)

func server(t *testing.T, sseDuration time.Duration) string {
	t.Helper()
	st := memory.NewStreams(memory.StreamsOptions{})
	t.Cleanup(func() { st.Close() })
	return durabletest.Serve(t, durable.Config{Store: st, SSEDuration: sseDuration})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// Follow gets every byte once and in order across the server ending its SSE
// responses, and stops at the closure.
func TestFollow_ResumesFromItsOffsetAcrossServerCutsAndStopsAtClosure(t *testing.T) {
	for _, ct := range []string{"text/plain", "application/octet-stream"} {
		t.Run(ct, func(t *testing.T) {
			u := server(t, 30*time.Millisecond) + "s"
			c := &durableclient.Client{Retry: 10 * time.Millisecond}
			if res, err := c.Create(ctx(t), u, durableclient.CreateOptions{ContentType: ct}); err != nil || res.Status != http.StatusCreated {
				t.Fatalf("create: %+v, %v", res, err)
			}
			var want bytes.Buffer
			got := make(chan []byte, 1)
			go func() {
				var b bytes.Buffer
				for chunk, err := range c.Follow(ctx(t), u, durableclient.Start) {
					if err != nil {
						t.Error(err)
						break
					}
					b.Write(chunk.Data)
				}
				got <- b.Bytes()
			}()
			for i := range 40 {
				part := fmt.Appendf(nil, "%d\x00\n;", i)
				want.Write(part)
				if _, err := c.Append(ctx(t), u, ct, part, durableclient.AppendOptions{}); err != nil {
					t.Fatal(err)
				}
				if i%10 == 9 {
					// Let a server cut (every 30 ms) fall between appends.
					time.Sleep(40 * time.Millisecond)
				}
			}
			if res, err := c.Close(ctx(t), u); err != nil || !res.Closed {
				t.Fatalf("close: %+v, %v", res, err)
			}
			select {
			case b := <-got:
				if !bytes.Equal(b, want.Bytes()) {
					t.Fatalf("followed %q, want %q", b, want.Bytes())
				}
			case <-ctx(t).Done():
				t.Fatal("Follow did not stop at the closure")
			}
		})
	}
}

func TestClient_WritesAndReadsAnswerAsTheServerDoes(t *testing.T) {
	u := server(t, 0) + "w"
	c := &durableclient.Client{}
	if _, err := c.Create(ctx(t), u, durableclient.CreateOptions{ContentType: "text/plain", Data: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	p := &durableclient.Producer{ID: "p"}
	if res, err := c.Append(ctx(t), u, "text/plain", []byte("b"), durableclient.AppendOptions{Producer: p}); err != nil || res.Status != http.StatusOK {
		t.Fatalf("producer append: %+v, %v", res, err)
	}
	if res, err := c.Append(ctx(t), u, "text/plain", []byte("b"), durableclient.AppendOptions{Producer: p}); err != nil || res.Status != http.StatusNoContent {
		t.Fatalf("producer retry: %+v, %v; want a 204 duplicate", res, err)
	}
	chunk, err := c.Read(ctx(t), u, durableclient.Start)
	if err != nil || string(chunk.Data) != "ab" || !chunk.UpToDate || chunk.Closed {
		t.Fatalf("read = %+v, %v", chunk, err)
	}
	if _, err := c.Close(ctx(t), u); err != nil {
		t.Fatal(err)
	}
	_, err = c.Append(ctx(t), u, "text/plain", []byte("c"), durableclient.AppendOptions{})
	var se *durableclient.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusConflict {
		t.Fatalf("append after close: %v, want 409", err)
	}
	meta, err := c.Head(ctx(t), u)
	if err != nil || !meta.Closed || meta.Offset != chunk.Offset {
		t.Fatalf("head = %+v, %v", meta, err)
	}
	if err := c.Delete(ctx(t), u); err != nil {
		t.Fatal(err)
	}
	for _, err := range c.Follow(ctx(t), u, durableclient.Start) {
		if !errors.Is(err, durableclient.ErrStreamGone) {
			t.Fatalf("Follow of a deleted stream: %v, want ErrStreamGone", err)
		}
	}
}
