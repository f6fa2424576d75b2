// Package gorilla is the goroutine-per-connection transport on
// github.com/gorilla/websocket: a read goroutine and a write goroutine per
// connection, blocking I/O. gorilla parses client frames; the write side
// writes the shared frame bytes of core's outbox itself, so that a push is
// never encoded per connection.
package gorilla

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/variants/transport/epoll/poll"
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
	hw := &hijackWriter{ResponseWriter: w}
	ws, err := t.up.Upgrade(hw, r, nil)
	if err != nil || hw.bc == nil {
		return // the upgrader answered the client
	}
	ws.SetReadLimit(int64(t.hub.Limits().MaxFrame))
	l := &link{ws: ws, nc: hw.bc.Conn, kick: make(chan struct{}, 1), quit: make(chan struct{}), wrote: make(chan struct{}), stats: t.hub.Stats()}
	l.c = t.hub.Open(l)
	hw.bc.c.Store(l.c)
	ws.SetPingHandler(func(p string) error {
		if !l.lingering.Load() {
			l.c.Pong([]byte(p))
		}
		return nil
	})
	ws.SetPongHandler(func(string) error {
		if !l.lingering.Load() {
			l.c.Touch()
		}
		return nil
	})
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
		if l.lingering.Load() {
			continue // the close frame is out: discard until the peer's close or EOF
		}
		l.c.Touch()
		if op == websocket.BinaryMessage {
			l.c.CloseWith(core.CloseUnsupported, "binary frames are not accepted")
			return
		}
		t.handle(l.c, msg)
	}
}

// handle handles one request; replies held for the read batch go out
// before one that may wait (a login), not after it.
func (t *Transport) handle(c *core.Conn, msg []byte) {
	req, ok := c.Parse(msg)
	if !ok {
		return
	}
	if c.MayBlock(req) {
		c.Release()
		defer c.Hold()
	}
	c.Apply(t.ctx, req)
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

	// lingering is set once the close frame is written: the socket is shut
	// for writing only (FIN follows the close frame) and the reader reads on,
	// discarding, until the peer's close frame or EOF, or until the hub's
	// sweep aborts it (Limits.CloseLinger). Closing a socket with unread
	// input would reset it and lose the close frame still in its send queue.
	lingering atomic.Bool
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

// closeWrite shuts the socket for writing and leaves it to the reader to
// end the connection; a socket that cannot half-close is closed.
func (l *link) closeWrite() {
	if cw, ok := l.nc.(interface{ CloseWrite() error }); !ok || cw.CloseWrite() != nil {
		l.Abort()
	}
}

// Unacked implements core.Unacked: the sweep lingers on while the peer has
// not acknowledged what the socket sent.
func (l *link) Unacked() bool {
	sc, ok := l.nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var un bool
	rc.Control(func(fd uintptr) { un = poll.Unacked(int(fd)) })
	return un
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
				l.lingering.Store(true)
				close(l.wrote)
				l.closeWrite()
				return
			}
		}
	}
}

// hijackWriter hands gorilla, when it takes the connection over, a
// batchConn in place of the socket: gorilla's reader then reads through it.
type hijackWriter struct {
	http.ResponseWriter
	bc *batchConn
}

// Hijack implements http.Hijacker.
func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := h.ResponseWriter.(http.Hijacker).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.bc = &batchConn{Conn: nc}
	return h.bc, brw, nil
}

// batchConn marks gorilla's read batches: gorilla reads the socket only
// once it has handled every message its buffer held, so before each read,
// which may block, the replies to what came before leave in one kick
// (core.Conn.Release), and the replies to what it reads next wait for the
// next read (core.Conn.Hold): one write per read, not one per reply. The
// link writes to the socket itself (Conn), so writev is kept.
type batchConn struct {
	net.Conn
	c atomic.Pointer[core.Conn] // set once the hub has opened the connection
}

// Read implements net.Conn.
func (b *batchConn) Read(p []byte) (int, error) {
	c := b.c.Load()
	if c != nil {
		c.Release()
	}
	n, err := b.Conn.Read(p)
	if c != nil {
		c.Hold()
	}
	return n, err
}
