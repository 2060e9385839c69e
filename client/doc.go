// Package client consumes Server-Sent Events streams over HTTP the way a
// browser's EventSource does, as the WHATWG HTML standard specifies it
// ("Server-sent events", §9.2), with the additions that programs need.
//
// A [Client] describes one event source: its URL, the request to send and
// the reconnection policy. [Client.Events] ranges over its events and
// [Client.Run] calls a function for each; both return only when the stream
// ends, fails or the context is done.
//
//	c := &client.Client{URL: "https://example.com/events"}
//	for ev, err := range c.Events(ctx) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(ev.Type, ev.ID, ev.Data)
//	}
//
// # What the browser does
//
// Each request carries Accept: text/event-stream, Cache-Control: no-cache and,
// when the last event ID string is not empty, Last-Event-ID. Redirects are
// followed (by the [http.Client]); reconnections start again from URL, as
// the standard's "reestablish the connection" fetches the EventSource's
// original request. A response whose status is not 200, or
// whose media type is not text/event-stream (parameters allowed), fails the
// connection: the client does not reconnect and returns a [*ResponseError]
// that wraps [ErrBadStatus] or [ErrBadContentType].
//
// Once a stream is open, each dispatched event is delivered in order with
// its type, data and the stream's last event ID, however large: by default
// neither lines nor events are limited in size, as in browsers. When the body ends or the
// connection drops, the client waits the reconnection time (the last retry:
// field, else [DefaultRetry]) and reconnects to the original URL with
// Last-Event-ID set to the last event ID string: the id committed by the last
// blank line, so an id inside an event cut off by the drop does not count,
// and none at all after the server reset it with an empty id field. Events
// after a reconnection that carry no id field keep the previous id, as in
// Chromium and Firefox. A partial event at the end of a connection is never
// delivered.
//
// State changes are reported to OnStateChange as EventSource reports them
// with onopen and onerror: [Connecting] before each attempt (with the reason
// when it is a reconnection), [Open] when a stream is announced, and [Closed]
// once, at the end, with the error that ended it.
//
// # Where it differs from the browser, and why
//
//   - Any method, headers and body can be sent; the body is sent again on
//     every reconnection. LLM-style streaming APIs need a POST with a JSON
//     body and an Authorization header.
//   - 204 No Content ends the stream cleanly: Run returns nil. The standard
//     treats it as any other non-200 status (fail the connection), which a
//     browser reports as an error; here it is the server's way to say "done".
//   - EndData names a data value (such as "[DONE]") that ends the stream
//     cleanly; the marker event itself is not delivered.
//   - A connection attempt that fails before a stream opens (network error,
//     read idle timeout, or a 5xx/429 status when RetryServerErrors is set)
//     is retried with exponential backoff and jitter, starting from the
//     reconnection time and capped by MaxBackoff. The standard allows a user
//     agent to wait longer than the reconnection time; a fixed delay would
//     hammer a server that is down. The first reconnection after a stream
//     that was open waits the reconnection time and no more, so retry: keeps
//     its meaning.
//   - MaxAttempts bounds the number of consecutive attempts that deliver no
//     event, after which the client gives up with an error wrapping
//     [ErrGaveUp] and the last cause. A stream that opens but ends or stalls
//     before its first event counts as such an attempt: otherwise a server
//     that accepts connections and never sends anything would keep the
//     client busy forever. Browsers never give up; the zero value does not
//     either.
//   - A 5xx status is fatal by default, as the standard says; the opt-in
//     RetryServerErrors treats 5xx and 429 as failed attempts instead,
//     because many servers return 502/503 while they restart.
//   - ReadIdleTimeout fails a connection on which no byte arrived for that
//     long (response headers included), so a server that stalls cannot hang
//     the client; browsers have no such limit.
//   - MaxLineBytes and MaxEventBytes cap the memory a server can make the
//     client use (browsers have no such cap, nor has the zero value). A line
//     or event larger than these limits ends the stream with an error
//     wrapping [sse.ErrLineTooLong] or [sse.ErrEventTooLarge]; reconnecting
//     would only read the same data again.
//   - OnComment receives the stream's comments (": text" lines), which
//     browsers drop: servers send them as heartbeats.
//   - Restart (a channel) and [ErrRestart] (returned by the function given
//     to Run) drop the connection and reconnect as after a network error,
//     keeping the last event ID and the reconnection time: to pick up new
//     credentials, or to leave a server that the caller judges stuck.
//   - NoReconnect makes a single attempt: the end of the body ends the
//     stream cleanly and any failure is returned.
//   - Cancellation is by [context.Context]: Run returns ctx.Err() and no
//     goroutine started for the stream outlives it.
package client
