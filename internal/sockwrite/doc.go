// Package sockwrite writes to a socket without waiting: one write(2) on a
// non-blocking descriptor, for servers that take connections over from
// net/http and write many of them from one goroutine (the Mercure hub's
// writer pool, the Durable Streams followers). Where that is not possible
// (Supported is false), those servers write through the blocking path.
package sockwrite
