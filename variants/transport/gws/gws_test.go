package gws_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/variants/policy"
	"github.com/gpush/gpush/variants/registry"
	"github.com/gpush/gpush/variants/transport/gws"
)

// server is a hub and the gws transport behind a real net/http server.
type server struct {
	hub *core.Hub
	url string
}

func start(t *testing.T, lim core.Limits) *server {
	t.Helper()
	hub := core.NewHub(core.Config{Registry: registry.NewSharded(0), Policy: policy.Immediate{}, Limits: lim, Format: core.FormatRaw})
	tr := gws.New(hub)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(tr.Upgrade)}
	ln = smallSendBuffer{ln.(*net.TCPListener)}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hub.Drain(ctx)
		require.NoError(t, tr.Close())
		hub.Close()
		assert.Zero(t, hub.Stats().Conns.Load(), "every connection closed")
	})
	return &server{hub: hub, url: "ws://" + ln.Addr().String() + "/ws"}
}

// smallSendBuffer gives accepted sockets an 8 KiB send buffer, so that a
// client that does not read fills it at once.
type smallSendBuffer struct{ *net.TCPListener }

func (l smallSendBuffer) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return c, c.SetWriteBuffer(8 << 10)
}

func (s *server) dial(t *testing.T) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(s.url, nil)
	require.NoError(t, err, "dial")
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	op, msg, err := c.ReadMessage()
	require.NoError(t, err, "read")
	require.Equal(t, websocket.TextMessage, op)
	return string(msg)
}

func TestGWS(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("subscribe-push", func(t *testing.T) {
		s := start(t, core.Limits{})
		c := s.dial(t)
		require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte(`{"code":1,"topic":"news","id":1}`)))
		assert.JSONEq(t, `{"code":1,"id":1,"topic":"news","status":0}`, read(t, c))
		assert.Equal(t, 1, s.hub.Deliver(core.Push{Topic: "news", Data: []byte("hello")}))
		assert.Equal(t, "hello", read(t, c))
	})
	t.Run("ping", func(t *testing.T) {
		s := start(t, core.Limits{})
		c := s.dial(t)
		require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte("PING")))
		assert.Equal(t, "pong", read(t, c))
		pong := make(chan string, 1)
		c.SetPongHandler(func(p string) error { pong <- p; return nil })
		require.NoError(t, c.WriteControl(websocket.PingMessage, []byte("hb"), time.Now().Add(time.Second)))
		// Probe with pushes until the pong has come (the pong handler runs
		// while reading).
		var got string
		for i := 0; got == "" && i < 100; i++ {
			m := fmt.Sprint("probe-", i)
			s.hub.Deliver(core.Push{Data: []byte(m)})
			assert.Equal(t, m, read(t, c), "the pong handler runs while reading")
			select {
			case got = <-pong:
			case <-time.After(10 * time.Millisecond):
			}
		}
		assert.Equal(t, "hb", got, "the pong echoes the ping payload")
	})
	// gws answers a client's close frame itself: code 1000 for every code
	// from 1000 to 1015, the code itself for 3000-4999 (not core.EchoClose).
	for sent, echoed := range map[int]int{1000: 1000, 1001: 1000, 4000: 4000} {
		t.Run(fmt.Sprint("close-handshake-", sent), func(t *testing.T) {
			s := start(t, core.Limits{})
			c := s.dial(t)
			require.NoError(t, c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(sent, "bye"), time.Now().Add(time.Second)))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _, err := c.ReadMessage()
			var ce *websocket.CloseError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, echoed, ce.Code, "gws's answer")
			require.Eventually(t, func() bool { return s.hub.Stats().Conns.Load() == 0 }, 5*time.Second, 5*time.Millisecond)
		})
	}
	t.Run("violations", testViolations)
	t.Run("backlog", testBacklog)
	t.Run("slow-consumer", testSlowConsumer)
}

// testViolations sends frames no client library would send.
func testViolations(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	text := func(p string) []byte { return wsframe.AppendMaskedFrame(nil, ws.OpText, true, mask, []byte(p)) }
	for _, tc := range []struct {
		name  string
		frame []byte
		code  int
	}{
		{"unmasked", wsframe.AppendFrame(nil, ws.OpText, true, []byte(`{"code":1,"topic":"a"}`)), 1002},
		{"oversized", text(strings.Repeat("x", core.DefaultMaxFrame+1)), 1009},
		{"invalid-utf8", text("\"\xff\xfe\""), 1007},
		{"reserved-bits", func() []byte { f := text("ping"); f[0] |= 0x40; return f }(), 1002},
		{"binary", wsframe.AppendMaskedFrame(nil, ws.OpBinary, true, mask, []byte("bin")), 1003},
		{"bad-opcode", wsframe.AppendMaskedFrame(nil, ws.OpCode(3), true, mask, []byte("x")), 1002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, core.Limits{})
			c := s.dial(t)
			_, err := c.UnderlyingConn().Write(tc.frame)
			require.NoError(t, err)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _, err = c.ReadMessage()
			var ce *websocket.CloseError
			require.ErrorAs(t, err, &ce, "a close frame")
			assert.Equal(t, tc.code, ce.Code)
			require.Eventually(t, func() bool { return s.hub.Stats().Conns.Load() == 0 }, 5*time.Second, 5*time.Millisecond, "the socket is closed")
			assert.Equal(t, int64(1), closes(s.hub.Stats(), tc.code), "close %d counted once", tc.code)
		})
	}
}

// closes returns how many closes with code the stats counted.
func closes(st *core.Stats, code int) int64 {
	for i, c := range core.CloseCodes {
		if c == code {
			return st.Closes[i].Load()
		}
	}
	return -1
}

// testBacklog: a client that reads nothing for a while gets every push, in
// order, once it reads.
func testBacklog(t *testing.T) {
	s := start(t, core.Limits{MaxQueued: 64 << 20})
	c := s.dial(t)
	require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte(`{"code":1,"topic":"t"}`)))
	read(t, c)
	const n = 4000
	pad := strings.Repeat("x", 1000)
	for i := range n {
		s.hub.Deliver(core.Push{Topic: "t", Data: fmt.Appendf(nil, "%d %s", i, pad)})
	}
	time.Sleep(100 * time.Millisecond)
	for i := range n {
		require.Equal(t, fmt.Sprintf("%d %s", i, pad), read(t, c), "push %d", i)
	}
	st := s.hub.Stats()
	assert.Greater(t, st.BytesWritten.Load(), int64(n*1000), "bytes the socket took")
}

// testSlowConsumer: a client that never reads is closed; the server holds
// no more than the queue limit for it meanwhile.
func testSlowConsumer(t *testing.T) {
	s := start(t, core.Limits{MaxQueued: 256 << 10, WriteTimeout: 300 * time.Millisecond})
	c := s.dial(t)
	require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte(`{"code":1,"topic":"t"}`)))
	read(t, c)
	data := []byte(strings.Repeat("y", 4000))
	for range 2000 {
		s.hub.Deliver(core.Push{Topic: "t", Data: data})
	}
	require.Eventually(t, func() bool { return s.hub.Stats().Conns.Load() == 0 }, 10*time.Second, 10*time.Millisecond, "the slow consumer is closed")
	assert.Equal(t, int64(1), s.hub.Stats().SlowConsumers.Load(), "counted as a slow consumer")
	// Whether close 1008 reaches the client is core's part: core.Outbox
	// drops a head frame that a writer is still writing when the limit
	// trips (off == 0), and then counts the close frame as written.
}
