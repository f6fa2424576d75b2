package servertest

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gpush/gpush/internal/server"
)

// StartNodes runs n nodes of variant joined through the NATS server at
// brokerURL until the test ends; each is ready (linked) when it returns.
func StartNodes(t testing.TB, n int, variant, brokerURL string, tweak func(*server.Config)) []*Server {
	t.Helper()
	nodes := make([]*Server, n)
	for i := range nodes {
		nodes[i] = Start(t, variant, func(c *server.Config) {
			c.Broker, c.NodeID = brokerURL, fmt.Sprintf("node-%d", i)
			if tweak != nil {
				tweak(c)
			}
		})
	}
	return nodes
}

// across makes a Server a view of several cluster nodes.
type across struct {
	nodes []*Server
	next  atomic.Uint32
	push  *Server
}

// Across returns a view of a cluster's nodes for suites written against one
// server: its clients dial the nodes in turn and its pushes go to the last
// node, so that with two nodes or more every push crosses the broker, and
// clients of one case sit on different nodes. Hub and Config are the first
// node's. The nodes stop on their own; the view's Stop does nothing.
func Across(nodes ...*Server) *Server {
	first, last := nodes[0], nodes[len(nodes)-1]
	return &Server{
		Server: first.Server, WSURL: first.WSURL, WSAddr: first.WSAddr,
		GRPCAddr: last.GRPCAddr, HTTPURL: last.HTTPURL, Config: first.Config,
		across: &across{nodes: nodes, push: last},
	}
}

// dialTarget is the node the next client dials: s itself, or for a view of
// a cluster the nodes in turn, never the push node while there are others.
func (s *Server) dialTarget() *Server {
	a := s.across
	if a == nil {
		return s
	}
	n := len(a.nodes)
	if n > 1 {
		n-- // the last node takes the pushes
	}
	return a.nodes[int(a.next.Add(1)-1)%n]
}

// Nodes returns the servers behind s: the cluster's nodes for a view made
// by Across, else s alone. Figures a case reads from a node's hub (its
// connections, its closes) sum over them.
func (s *Server) Nodes() []*Server {
	if s.across == nil {
		return []*Server{s}
	}
	return s.across.nodes
}
