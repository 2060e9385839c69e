// Package sockwrite writes to a socket without waiting: write(2) on a
// non-blocking descriptor, for servers that take connections over from
// net/http and write many of them from one goroutine (the Mercure hub's
// writer pool, the Durable Streams followers). Where that is not possible
// (Supported is false, or the connection has no descriptor, as with TLS),
// those servers write through the blocking path.
package sockwrite
