package mercure_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
)

// Embedding the hub in a Go program: mount it on a mux, publish and
// subscribe from Go code.
func Example() {
	srv, err := mercure.New(mercure.Config{Anonymous: true, PublisherJWTKey: "a-secret-of-at-least-32-bytes-long!!"})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	mux := http.NewServeMux()
	srv.Register(mux) // /.well-known/mercure, its subscriptions API, /healthz, /metrics

	ctx := context.Background()
	sub, _ := srv.Hub().Subscribe(ctx, hub.SubscribeRequest{Selectors: []string{"https://example.com/books/{id}"}})
	defer sub.Close()
	srv.Hub().Publish(ctx, &hub.Update{ID: "urn:1", Topics: []string{"https://example.com/books/1"}, Data: "hello"})
	msgs, _ := sub.Receive(ctx, nil)
	fmt.Printf("%s", msgs[0].Bytes)
	// Output:
	// id: urn:1
	// data: hello
}
