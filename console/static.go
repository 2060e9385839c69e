package console

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// staticFS returns the console's files: the pages, their script and style,
// and the vendored uPlot (see static/VENDORED).
func staticFS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "static" is valid.
		panic(err)
	}
	return sub
}
