//go:build unix

package sockwrite_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ssehub/ssehub/internal/sockwrite"
)

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func TestWriter_WritesWhatTheSocketTakesAndNeverWaits(t *testing.T) {
	client, server := pair(t)
	if err := server.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	if err := client.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	var w sockwrite.Writer
	if !w.Init(server) {
		t.Fatal("Init declined a plain TCP connection")
	}
	// Far more than both buffers hold: a blocking write would hang here,
	// since nobody reads yet.
	b := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	n, err := w.Write(b)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if n <= 0 || n >= len(b) {
		t.Fatalf("Write took %d of %d bytes; want part of them", n, len(b))
	}
	// What it reports written is exactly what arrives.
	server.CloseWrite()
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b[:n]) {
		t.Fatalf("received %d bytes, not the %d written first", len(got), n)
	}
}

func TestWriter_ReportsTheErrorOfAClosedConnection(t *testing.T) {
	_, server := pair(t)
	var w sockwrite.Writer
	if !w.Init(server) {
		t.Fatal("Init declined a plain TCP connection")
	}
	server.Close()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write to a closed connection: no error")
	}
}

func TestWriter_DeclinesAConnectionWithoutADescriptorAndThenWritesNothing(t *testing.T) {
	_, server := pair(t)
	var w sockwrite.Writer
	if w.Init(tls.Server(server, &tls.Config{})) {
		t.Fatal("Init took a TLS connection")
	}
	if n, err := w.Write([]byte("x")); n != 0 || err != nil {
		t.Fatalf("Write = %d, %v; want 0, nil", n, err)
	}
}
