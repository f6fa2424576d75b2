package server

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gpush/gpush/core"
)

// wsPath is the WebSocket port's one path.
const wsPath = "/ws"

// gate is the server's rule for the WebSocket port, which the transport
// applies (variants.Transport.Serve): only /ws is served, requests are
// bounded in size and time, and admit decides.
func (s *Server) gate() core.Gate {
	return core.Gate{Path: wsPath, MaxHeaderBytes: s.cfg.MaxHeaderBytes, Timeout: handshakeTimeout,
		Admit: s.admit, Done: s.slots.release,
		Failed: func(reason string) { s.metrics.rejected.WithLabelValues(reason).Inc() }}
}

// handshakeTimeout bounds the time an upgrade request takes to arrive.
const handshakeTimeout = 10 * time.Second

// admit decides for a well-formed upgrade request with its Origin header:
// draining and over max-conns answer 503, an Origin off the allow-list 403.
// A request without Origin (not a browser) passes. 0 admits it and holds a
// slot until s.slots.release.
func (s *Server) admit(origin string) (status int, text string) {
	if s.brokerDown() { // a node subscribes to broadcasts before it serves upgrades
		s.metrics.rejected.WithLabelValues("broker").Inc()
		return http.StatusServiceUnavailable, "broker unavailable"
	}
	if refused := s.slots.reserve(s.cfg.MaxConns, s.hub.Stats()); refused != "" {
		s.metrics.rejected.WithLabelValues(refused).Inc()
		return http.StatusServiceUnavailable, refusals[refused]
	}
	if testHookGate != nil {
		testHookGate()
	}
	if origin != "" && len(s.cfg.AllowedOrigins) > 0 && !slices.Contains(s.cfg.AllowedOrigins, origin) {
		s.slots.release()
		s.metrics.rejected.WithLabelValues("origin").Inc()
		return http.StatusForbidden, "origin not allowed"
	}
	return 0, ""
}

// testHookGate, when set by a test, runs in every upgrade that passed the
// gate, before its handshake.
var testHookGate func()

// slots counts the upgrades past the gate that the transport has not ended
// yet (core.Gate.Done). Every transport registers a completed connection
// (Hub.Open) before Done, so reserved + open connections never undercounts, and
// max-conns holds even for upgrades racing each other. A connection counts
// twice between its Open and its release, so an upgrade that finds the
// count at the limit while others are in flight waits for them to end and
// counts again: it is refused only when the count without reservations
// (exact) is at the limit.
//
// Shutdown closes the gate and waits for the reserved upgrades to end, so
// Hub.Drain sees every connection that will ever open.
type slots struct {
	mu       sync.Mutex // guards reserved and closed
	reserved int
	closed   bool
	changed  *sync.Cond // on mu: broadcast when reserved drops or the gate closes
}

// refusals are the reasons reserve gives (metric labels) and their answers.
var refusals = map[string]string{"draining": "server is draining", "max_conns": "too many connections"}

// reserve takes a slot for one upgrade, or returns why not: "draining"
// once the gate is closed, "max_conns" when max (0: no limit) connections
// are open.
func (g *slots) reserve(max int, st *core.Stats) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		switch {
		case g.closed:
			return "draining"
		case max <= 0 || int64(g.reserved)+st.Conns.Load() < int64(max):
			g.reserved++
			return ""
		case g.reserved == 0:
			return "max_conns"
		}
		g.cond().Wait() // upgrades in flight may count twice: wait for one to end
	}
}

// cond returns the condition variable on mu, made on first use. g.mu is held.
func (g *slots) cond() *sync.Cond {
	if g.changed == nil {
		g.changed = sync.NewCond(&g.mu)
	}
	return g.changed
}

// release ends a reservation: the upgrade failed, or its connection now
// counts in the hub.
func (g *slots) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reserved--
	g.cond().Broadcast()
}

// close refuses every later reservation and waits, until ctx is done, for
// the upgrades already past the gate to end.
func (g *slots) close(ctx context.Context) {
	g.mu.Lock()
	g.closed = true
	g.cond().Broadcast()
	g.mu.Unlock()
	for g.busy() && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
}

func (g *slots) busy() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reserved > 0
}
