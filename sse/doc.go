// Package sse implements the Server-Sent Events wire format as the WHATWG
// HTML standard defines it ("Server-sent events", §9.2): an encoder that
// refuses any event that would break the stream, and a streaming parser that
// follows every step of "parsing an event stream" and "dispatching the event".
//
// The package knows nothing about HTTP; the stream, client and hub packages
// build on it.
package sse
