// Package loadgen is a load generator for hubs that speak the Mercure
// protocol (draft-dunglas-mercure-07): it connects many subscribers to one
// topic, publishes numbered, timestamped updates, and measures what each
// subscriber receives — delivered against expected, lost, duplicated and
// out-of-order updates, delivery latency and connect time — and, given the
// hub's process id, the hub's CPU time and memory.
//
// Every update's data is a small JSON object padded to the requested size:
//
//	{"n":123,"t":1700000000000000000,"p":"xxxx…"}
//
// where n is the sequence number (0 to Updates-1) and t the send time in
// Unix nanoseconds. A subscriber keeps a bitset of the numbers it has seen,
// the highest number seen and a few counters; latencies go into a shared,
// sharded log-bucket histogram, so bookkeeping costs no allocation per
// delivery however many deliveries a run makes.
//
// Run is the entry point; the ssehub bench command is a thin layer over it.
package loadgen
