package wsclient

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core/wsframe"
)

// echoServer upgrades each connection with gobwas/ws, greets it with a
// frame written right behind the response, then echoes every frame back
// unmasked. It returns its address.
func echoServer(t *testing.T, greeting []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go echo(nc, greeting)
		}
	}()
	return ln.Addr().String()
}

func echo(nc net.Conn, greeting []byte) {
	defer nc.Close()
	if _, err := ws.Upgrade(nc); err != nil {
		return
	}
	if _, err := nc.Write(greeting); err != nil {
		return
	}
	for {
		//lint:ignore SA1019 a test peer of the test's own client: whole frames of a few bytes
		f, err := ws.ReadFrame(nc)
		if err != nil {
			return
		}
		f = ws.UnmaskFrameInPlace(f)
		if err := ws.WriteFrame(nc, ws.NewFrame(f.Header.OpCode, true, f.Payload)); err != nil {
			return
		}
	}
}

func TestDialReadsFramesBehindTheResponse(t *testing.T) {
	greet := wsframe.AppendFrame(nil, ws.OpText, true, []byte("hello"))
	addr := echoServer(t, greet)
	c, err := Dial(addr, Config{Timeout: 5 * time.Second})
	require.NoError(t, err)
	defer c.Close()

	h, p, err := c.Next()
	require.NoError(t, err)
	assert.Equal(t, ws.OpText, h.OpCode)
	assert.Equal(t, "hello", string(p), "the greeting, sent with the response")

	big := bytes.Repeat([]byte("ab"), 40000) // larger than the read buffer
	_, err = c.Write(Frame(ws.OpBinary, big))
	require.NoError(t, err)
	h, p, err = c.Next()
	require.NoError(t, err)
	assert.Equal(t, ws.OpBinary, h.OpCode)
	assert.Equal(t, big, p, "the echo of a masked frame")
}

func TestReadStartsWithBufferedBytes(t *testing.T) {
	greet := wsframe.AppendFrame(nil, ws.OpText, true, []byte("first"))
	addr := echoServer(t, greet)
	c, err := Dial(addr, Config{})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(Text("second"))
	require.NoError(t, err)

	want := wsframe.AppendFrame(greet, ws.OpText, true, []byte("second"))
	got := make([]byte, len(want))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	assert.Equal(t, want, got, "Read returns the buffered greeting before the socket's bytes")
}

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	_, err = Dial(ln.Addr().String(), Config{Timeout: 5 * time.Second})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrStatus)
	assert.Contains(t, err.Error(), "404")
}

func TestDialTimesOutOnASilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			t.Cleanup(func() { nc.Close() }) // accept and never answer
		}
	}()
	_, err = Dial(ln.Addr().String(), Config{Timeout: 100 * time.Millisecond})
	var ne net.Error
	require.True(t, errors.As(err, &ne), "a network error: %v", err)
	assert.True(t, ne.Timeout())
}

func TestCloseFrame(t *testing.T) {
	h, p, n := wsframe.Cut(CloseFrame(4000, "bye"))
	require.NotZero(t, n)
	assert.Equal(t, ws.OpClose, h.OpCode)
	assert.True(t, h.Masked && h.Fin)
	code, reason, err := wsframe.ParseClose(p)
	require.NoError(t, err)
	assert.Equal(t, ws.StatusCode(4000), code)
	assert.Equal(t, "bye", reason)
}

func TestNextClose(t *testing.T) {
	stream := wsframe.AppendFrame(nil, ws.OpText, true, []byte("not yet"))
	stream = wsframe.AppendClose(stream, 1001, "away")
	stream = wsframe.AppendFrame(stream, ws.OpClose, true, []byte{3})
	addr := echoServer(t, stream)
	c, err := Dial(addr, Config{Timeout: 5 * time.Second})
	require.NoError(t, err)
	defer c.Close()

	_, err = c.NextClose()
	assert.ErrorIs(t, err, ErrNotClose, "a text frame")
	code, err := c.NextClose()
	require.NoError(t, err)
	assert.Equal(t, ws.StatusCode(1001), code)
	_, err = c.NextClose()
	assert.ErrorIs(t, err, wsframe.ErrCloseLength, "a 1-byte close payload")
}
