// Package web holds the static files ssehub serves, embedded in the binary
// so that the one binary is all a user needs.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// FS returns the static files, rooted so that "index.html" is the demo page.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "static" is valid.
		panic(err)
	}
	return sub
}

// Handler serves the static files; "/" is the typewriter demo page.
func Handler() http.Handler {
	return http.FileServerFS(FS())
}
