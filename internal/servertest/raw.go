package servertest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/core/wsframe/wsclient"
)

// Raw is a WebSocket client on a bare TCP socket, for sending frames no
// well-behaved library would send: unmasked, reserved bits, split at any
// byte.
type Raw struct {
	t  testing.TB
	NC net.Conn
	br *bufio.Reader

	answered bool // a close frame was answered
}

// DialRaw connects and completes the handshake.
func (s *Server) DialRaw(t testing.TB) *Raw {
	t.Helper()
	r, err := s.TryDialRaw(t)
	require.NoError(t, err, "handshake")
	return r
}

// TryDialRaw is DialRaw returning what went wrong instead of failing t,
// for suites that report a server's behaviour rather than enforce it.
func (s *Server) TryDialRaw(t testing.TB) (*Raw, error) {
	c, err := wsclient.Dial(s.dialTarget().WSAddr, wsclient.Config{Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return &Raw{t: t, NC: c.Conn, br: c.Frames.R}, nil
}

// Mask is the mask key Raw uses.
var Mask = wsclient.Mask

// Text returns a masked, final client text frame.
func Text(s string) []byte { return wsclient.Text(s) }

// Write sends b as it is.
func (r *Raw) Write(b []byte) {
	r.t.Helper()
	_, err := r.NC.Write(b)
	require.NoError(r.t, err)
}

// Frame is one server frame as Raw read it.
type Frame struct {
	Op      ws.OpCode
	Payload []byte
}

// Next reads the next server message or control frame within d.
func (r *Raw) Next(d time.Duration) (Frame, error) {
	var p wsframe.Parser
	p.Reset(wsframe.Config{Client: true, MaxMessage: 1 << 24})
	r.NC.SetReadDeadline(time.Now().Add(d))
	defer r.NC.SetReadDeadline(time.Time{})
	var got *Frame
	stop := errors.New("got one")
	for {
		b, err := r.br.ReadByte() // one byte at a time: never read past the frame
		if err != nil {
			return Frame{}, err
		}
		err = p.Feed([]byte{b}, func(op ws.OpCode, payload []byte) error {
			got = &Frame{Op: op, Payload: append([]byte(nil), payload...)}
			return stop
		})
		if got != nil {
			r.answerClose(*got)
			return *got, nil
		}
		if err != nil {
			return Frame{}, err
		}
	}
}

// answerClose answers the first close frame the server sends with a close
// frame, as a conformant client does (RFC 6455 5.5.1), so the server need
// not wait out its linger for the client's EOF.
func (r *Raw) answerClose(f Frame) {
	if f.Op != ws.OpClose || r.answered {
		return
	}
	r.answered = true
	r.NC.Write(wsclient.CloseReply(f.Payload)) // the server may be gone: nothing to do about an error
}

// CloseCode reads frames until a close frame and returns its code; it fails
// the test when the socket ends without one within d.
func (r *Raw) CloseCode(d time.Duration) int {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		f, err := r.Next(time.Until(deadline))
		require.NoError(r.t, err, "waiting for a close frame")
		if f.Op == ws.OpClose {
			code, _, err := wsframe.ParseClose(f.Payload)
			require.NoError(r.t, err)
			return int(code)
		}
	}
	r.t.Fatal("no close frame")
	return 0
}

// Closed reports whether the server closed the socket within d (reads
// until EOF or a reset, discarding).
func (r *Raw) Closed(d time.Duration) bool {
	r.NC.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, r.br)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}
