package nbio

import (
	"errors"
	"net"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/gpush/gpush/core"
)

// The read side. nbio's poller reads and onData parses (nbio's parser); nbio
// runs the message, ping, pong and close handlers of one connection one at
// a time, in order, on its task pool (nbio.Conn.Execute), so a login that
// blocks delays only its own connection.

// linkOf returns the link of wsc, nil before opened ran.
func linkOf(wsc *websocket.Conn) *link {
	l, _ := wsc.Session().(*link)
	return l
}

// opened runs inside Upgrade once nbio has added the socket to a poller and
// before the handshake response goes out, so a client that waits for the
// response, as RFC 6455 asks, finds its link ready.
func (t *Transport) opened(c net.Conn) {
	nbc, _ := c.(*nbio.Conn)
	if nbc == nil {
		return
	}
	wsc, _ := nbc.Session().(*websocket.Conn)
	if wsc == nil {
		return
	}
	l := &link{t: t, nbc: nbc, fd: fdOf(nbc)}
	l.c = t.hub.Open(l)
	wsc.SetSession(l)
}

// onData replaces the engine's data handler (nbio.Conn.OnData documents this
// use): it parses as nbio's own handler does, but a frame nbio refuses gets
// a close frame with a code instead of a bare close.
func (t *Transport) onData(nbc *nbio.Conn, data []byte) {
	wsc, _ := nbc.Session().(*websocket.Conn)
	if wsc == nil {
		return
	}
	l := linkOf(wsc)
	if l == nil { // bytes sent before the handshake response
		nbc.Close()
		return
	}
	if l.done.Load() {
		return
	}
	if !l.masks.feed(data) {
		l.done.Store(true)
		l.c.CloseWith(core.CloseProtocolError, "unmasked client frame")
		return
	}
	// nbio runs the handlers of what Parse finds on the connection's serial
	// executor, after Parse returns: holding the connection in a task
	// before them and releasing it in one after makes the replies to this
	// read leave in one kick.
	held := wsc.Execute(l.c.Hold)
	err := wsc.Parse(data)
	if held && !wsc.Execute(l.c.Release) {
		l.c.Release()
	}
	if err != nil {
		l.readFailed(err)
	}
}

// readFailed ends reading after a frame nbio refused. For an oversized
// message nbio has sent close 1009 itself; every other violation (reserved
// bits, bad opcode, bad fragmentation) gets 1002 from core.
func (l *link) readFailed(err error) {
	l.done.Store(true)
	switch {
	case errors.Is(err, net.ErrClosed):
	case errors.Is(err, websocket.ErrMessageTooLarge), errors.Is(err, websocket.ErrControlMessageTooBig):
		l.t.hub.Stats().CountClose(core.CloseTooBig)
		l.closeAfterFlush()
	case errors.Is(err, nbhttp.ErrTooLong):
		l.c.CloseWith(core.CloseTooBig, "message too big")
	default:
		l.c.CloseWith(core.CloseProtocolError, "protocol error")
	}
}

func (t *Transport) onMessage(wsc *websocket.Conn, op websocket.MessageType, msg []byte) {
	l := linkOf(wsc)
	if l == nil || l.done.Load() {
		return
	}
	if op == websocket.BinaryMessage {
		l.done.Store(true)
		l.c.CloseWith(core.CloseUnsupported, "binary frames are not accepted")
		return
	}
	l.c.Handle(t.ctx, msg)
}

func (t *Transport) onPing(wsc *websocket.Conn, payload string) {
	if l := linkOf(wsc); l != nil {
		l.c.Pong([]byte(payload))
	}
}

func (t *Transport) onPong(wsc *websocket.Conn, _ string) {
	if l := linkOf(wsc); l != nil {
		l.c.Touch()
	}
}

// onCloseFrame answers a close frame from the client. nbio validated its
// code and closes the socket when this returns: the echo goes out at once
// from here unless a writer is busy or nbio still holds output.
func (t *Transport) onCloseFrame(wsc *websocket.Conn, code int, _ string) {
	l := linkOf(wsc)
	if l == nil {
		return
	}
	l.done.Store(true)
	if code == 1005 { // no status code
		code = 0
	}
	l.c.EchoClose(code)
}

// onClose runs once nbio has closed the socket, whoever closed it.
func (t *Transport) onClose(wsc *websocket.Conn, err error) {
	l := linkOf(wsc)
	if l == nil {
		return
	}
	if errors.Is(err, websocket.ErrInvalidCloseCode) || errors.Is(err, websocket.ErrInvalidUtf8) {
		t.hub.Stats().CountClose(core.CloseProtocolError) // nbio sent 1002 itself
	}
	t.hub.Closed(l.c)
}
