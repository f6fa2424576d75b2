package gws

import (
	"errors"
	"io"
	"net"

	"github.com/lxzan/gws"

	"github.com/gpush/gpush/core"
)

// The read side: gws calls these from the connection's read loop, one at a
// time and in order, so a login that blocks delays only its connection.
// gws answers a client's close frame and fails a connection that breaks
// the protocol on its own, with its own close codes.

// linkKey is the session key of a connection's link.
const linkKey = "gpush.link"

// handler implements gws.Event.
type handler struct{ t *Transport }

func linkOf(ws *gws.Conn) *link {
	v, _ := ws.Session().Load(linkKey)
	l, _ := v.(*link)
	return l
}

func (handler) OnOpen(*gws.Conn) {}

func (h handler) OnMessage(ws *gws.Conn, m *gws.Message) {
	defer m.Close()
	l := linkOf(ws)
	if l == nil || l.done {
		return
	}
	if m.Opcode == gws.OpcodeBinary {
		l.done = true
		l.c.CloseWith(core.CloseUnsupported, "binary frames are not accepted")
		return
	}
	l.c.Handle(h.t.ctx, m.Bytes())
}

func (handler) OnPing(ws *gws.Conn, payload []byte) {
	if l := linkOf(ws); l != nil {
		l.c.Pong(payload)
	}
}

func (handler) OnPong(ws *gws.Conn, _ []byte) {
	if l := linkOf(ws); l != nil {
		l.c.Touch()
	}
}

// OnClose runs once, when the read loop ends, whoever closed the socket.
func (h handler) OnClose(ws *gws.Conn, err error) {
	l := linkOf(ws)
	if l == nil {
		return
	}
	if code := sentCode(err); code != 0 {
		h.t.hub.Stats().CountClose(code)
	}
	h.t.hub.Closed(l.c)
}

// sentCode returns the close code gws sent when it failed the connection on
// a protocol violation (err is what ended the read loop), or 0 when the
// client closed, the socket failed or the server closed it.
func sentCode(err error) int {
	var ce *gws.CloseError
	var code interface{ Uint16() uint16 } // gws's internal StatusCode
	var ne net.Error
	switch {
	case err == nil, err.Error() == "", errors.As(err, &ce): // ce: the client closed; gws answered
		return 0
	case errors.As(err, &code):
		return int(code.Uint16())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.As(err, &ne):
		return 0
	}
	return core.CloseProtocolError // "unexpected opcode", sent as 1002
}
