// Package gorilla is the goroutine-per-connection transport on
// github.com/gorilla/websocket: a read goroutine and a write goroutine per
// connection, blocking I/O. gorilla parses client frames; the write side
// writes the shared frame bytes of core's outbox itself, so that a push is
// never encoded per connection.
package gorilla

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gpush/gpush/core"
)

// Transport upgrades HTTP requests to WebSocket connections served by
// goroutines.
type Transport struct {
	hub *core.Hub
	up  websocket.Upgrader
	wg  sync.WaitGroup
	ctx context.Context
	end context.CancelFunc
}

// New returns a transport that feeds hub.
func New(hub *core.Hub) *Transport {
	ctx, cancel := context.WithCancel(context.Background())
	return &Transport{
		hub: hub,
		up: websocket.Upgrader{
			ReadBufferSize:  1024,
			WriteBufferSize: 256,                                      // gorilla writes only the control frames it sends on its own
			CheckOrigin:     func(*http.Request) bool { return true }, // the server's gate checks Origin
		},
		ctx: ctx,
		end: cancel,
	}
}

// Upgrade takes over one HTTP request as a WebSocket connection.
func (t *Transport) Upgrade(w http.ResponseWriter, r *http.Request) {
	ws, err := t.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered the client
	}
	ws.SetReadLimit(int64(t.hub.Limits().MaxFrame))
	l := &link{ws: ws, nc: ws.NetConn(), kick: make(chan struct{}, 1), quit: make(chan struct{}), wrote: make(chan struct{}), stats: t.hub.Stats()}
	l.c = t.hub.Open(l)
	ws.SetPingHandler(func(p string) error { l.c.Pong([]byte(p)); return nil })
	ws.SetPongHandler(func(string) error { l.c.Touch(); return nil })
	ws.SetCloseHandler(func(code int, _ string) error {
		if code == websocket.CloseNoStatusReceived {
			code = 0
		}
		l.c.EchoClose(code)
		return nil
	})
	t.wg.Add(2)
	go func() { defer t.wg.Done(); l.writeLoop() }()
	go func() { defer t.wg.Done(); t.readLoop(l) }()
}

// Close waits for every connection's goroutines to end; the hub's Drain
// closes the connections first.
func (t *Transport) Close() error {
	t.end()
	t.wg.Wait()
	return nil
}

func (t *Transport) readLoop(l *link) {
	defer t.finish(l)
	for {
		op, msg, err := l.ws.ReadMessage()
		if err != nil {
			t.countReadError(err)
			return
		}
		l.c.Touch()
		if op == websocket.BinaryMessage {
			l.c.CloseWith(core.CloseUnsupported, "binary frames are not accepted")
			return
		}
		l.c.Handle(t.ctx, msg)
	}
}

// countReadError counts the close frames gorilla sent on its own.
func (t *Transport) countReadError(err error) {
	var ce *websocket.CloseError
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		t.hub.Stats().CountClose(core.CloseTooBig)
	case errors.As(err, &ce), errors.Is(err, net.ErrClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		var ne net.Error
		if !errors.As(err, &ne) { // not the network: a protocol error gorilla answered with 1002
			t.hub.Stats().CountClose(core.CloseProtocolError)
		}
	}
}

// finish ends a connection whose reading stopped: when a close frame is on
// its way out, the writer gets up to the write timeout to send it.
func (t *Transport) finish(l *link) {
	if l.c.Out.Closing() {
		select {
		case <-l.wrote:
		case <-l.quit:
		case <-time.After(t.hub.Limits().WriteTimeout):
		}
	}
	l.Abort()
	t.hub.Closed(l.c)
}

// link is the transport side of one connection.
type link struct {
	c     *core.Conn
	ws    *websocket.Conn
	nc    net.Conn
	kick  chan struct{}
	quit  chan struct{}
	wrote chan struct{} // closed when the close frame went out
	once  sync.Once
	stats *core.Stats
}

// Kick implements core.Link.
func (l *link) Kick() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Abort implements core.Link.
func (l *link) Abort() {
	l.once.Do(func() {
		close(l.quit)
		l.nc.Close()
	})
}

func (l *link) writeLoop() {
	var bufs [][]byte
	for {
		select {
		case <-l.quit:
			return
		case <-l.kick:
		}
		for {
			bufs = l.c.Out.Peek(bufs[:0], 1024)
			if len(bufs) == 0 {
				break
			}
			l.nc.SetWriteDeadline(time.Now().Add(l.c.Limits().WriteTimeout))
			nb := net.Buffers(bufs)
			n, err := nb.WriteTo(l.nc)
			clear(bufs)
			l.stats.Writes.Add(1)
			l.stats.BytesWritten.Add(n)
			_, closeNow := l.c.Out.Advance(int(n))
			if err != nil {
				l.Abort()
				return
			}
			if closeNow {
				close(l.wrote)
				l.Abort()
				return
			}
		}
	}
}
