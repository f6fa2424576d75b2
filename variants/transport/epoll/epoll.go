// Package epoll is the event-loop transport: connections are raw file
// descriptors in an edge-triggered epoll (package poll, beside it), client frames are
// parsed by an incremental parser (core/wsframe) that resumes at any byte,
// and no goroutine is kept per connection. A fixed number of loops read;
// whoever queues output (a pusher, a flusher, the loop) writes it, without
// blocking, and a full socket waits for its EPOLLOUT edge.
package epoll

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe"
)

// Transport serves WebSocket connections from event loops.
type Transport struct {
	hub    *core.Hub
	loops  []*loop
	logins sync.Map // *conn -> *sideQueue: the logins in flight (conn.dispatch)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	gate   core.Gate // Serve's, set before its first handshake

	// loginEnd, set by tests only, is handed a login goroutine's removal
	// of its queue from logins (endLogin) to run when the test chooses.
	loginEnd func(remove func() bool)
}

// New starts one event loop per GOMAXPROCS. It returns poll.ErrUnsupported
// where there is no epoll.
func New(hub *core.Hub) (*Transport, error) {
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{hub: hub, ctx: ctx, cancel: cancel}
	for range runtime.GOMAXPROCS(0) {
		l, err := newLoop(t)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("epoll transport: %w", err)
		}
		t.loops = append(t.loops, l)
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			l.run()
		}()
	}
	return t, nil
}

// parserConfig is the frame parser's configuration, the same for every
// connection.
func (t *Transport) parserConfig() wsframe.Config {
	return wsframe.Config{MaxMessage: t.hub.Limits().MaxFrame}
}

// Close stops the loops and closes the connections they still hold.
func (t *Transport) Close() error {
	t.cancel()
	for _, l := range t.loops {
		l.p.Wake()
	}
	t.wg.Wait()
	for _, l := range t.loops {
		l.p.Close()
	}
	return nil
}
