// Package natstest runs a real NATS server (nats-server, embedded) in the
// test process, on a loopback port that survives a restart, for tests of a
// cluster of gpush nodes.
package natstest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
)

// Server is an embedded NATS server.
type Server struct {
	*server.Server
	Port int
}

// Start runs a NATS server on a free loopback port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{Port: port}
	s.Restart(t)
	t.Cleanup(s.Stop)
	return s
}

// URL is the nats:// URL of the server.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Port) }

// Restart starts the server again on the same port (after Stop); it starts
// with no subscriptions and no clients.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: s.Port, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	go ns.Start()
	require.True(t, ns.ReadyForConnections(10*time.Second), "NATS server not ready")
	s.Server = ns
}

// Stop shuts the server down and waits until it is gone: its clients see
// their connection close. It is idempotent.
func (s *Server) Stop() {
	if s.Server != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}
