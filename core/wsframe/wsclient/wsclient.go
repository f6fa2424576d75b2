// Package wsclient is the client side of wsframe on a bare TCP socket: the
// HTTP upgrade handshake and a Conn that writes masked frames and reads
// whole server frames. It serves the clients that must control every byte
// (test kits, fault tests, the load generator) where a WebSocket library
// would refuse to send a broken frame or hide how the stream was cut.
//
// It imports only wsframe, so the benchmark harness and the module's
// internal test kits can both use it with every import pointing inward.
package wsclient

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gobwas/ws"

	"github.com/gpush/gpush/core/wsframe"
)

// Path is the WebSocket endpoint that Dial upgrades.
const Path = "/ws"

// Mask is the mask key of every frame a Conn builds; the server unmasks
// whatever key a client picks, so one fixed key keeps streams readable.
var Mask = [4]byte{0x12, 0x34, 0x56, 0x78}

// Errors.
var (
	// ErrStatus is a handshake answered with another status than 101.
	ErrStatus = errors.New("wsclient: handshake refused")
	// ErrNotClose is a frame NextClose read that is not a close frame.
	ErrNotClose = errors.New("wsclient: not a close frame")
)

// Config says how Dial connects.
type Config struct {
	Dialer  net.Dialer    // timeout and socket options of the TCP connect
	Timeout time.Duration // deadline of the handshake; 0: none
	BufSize int           // read buffer; a frame that fits is read without a copy (0: 4096)
}

// Conn is an upgraded connection. Reads go through Frames.R, which may
// already hold bytes the server sent right after its response.
type Conn struct {
	net.Conn
	Frames wsframe.Reader

	answered bool // a close frame was answered
}

// Dial connects to addr and upgrades the connection; on failure nothing
// stays open.
func Dial(addr string, c Config) (*Conn, error) {
	nc, err := c.Dialer.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := Upgrade(nc, addr, c)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return conn, nil
}

// Upgrade runs the client handshake on nc for host within c.Timeout.
func Upgrade(nc net.Conn, host string, c Config) (*Conn, error) {
	if c.Timeout > 0 {
		nc.SetDeadline(time.Now().Add(c.Timeout))
		defer nc.SetDeadline(time.Time{})
	}
	if _, err := io.WriteString(nc, UpgradeRequest(host, Path)); err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	br := bufio.NewReaderSize(nc, c.bufSize())
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("%w: status %d", ErrStatus, resp.StatusCode)
	}
	return &Conn{Conn: nc, Frames: wsframe.Reader{R: br, Max: 1 << 24}}, nil
}

func (c Config) bufSize() int {
	if c.BufSize > 0 {
		return c.BufSize
	}
	return 4096
}

// Key is the Sec-WebSocket-Key of every upgrade request (RFC 6455's own
// example nonce; a test client needs no randomness).
const Key = "dGhlIHNhbXBsZSBub25jZQ=="

// UpgradeRequest is a valid upgrade request for path on host, with extra
// header lines (each ending in CRLF) before the blank line.
func UpgradeRequest(host, path string, extra ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + Key + "\r\nSec-WebSocket-Version: 13\r\n" + strings.Join(extra, "") + "\r\n"
}

// Read reads the stream after the handshake, buffered bytes first.
func (c *Conn) Read(p []byte) (int, error) { return c.Frames.R.Read(p) }

// Next reads the next whole server frame (see wsframe.Reader.Next); a
// frame over 16 MiB is wsframe.ErrTooBig. The first close frame it reads is
// answered with a close frame (RFC 6455 5.5.1), as a conformant client
// does, so the server need not wait out its linger for the client's EOF.
func (c *Conn) Next() (ws.Header, []byte, error) {
	h, p, err := c.Frames.Next()
	if err == nil && h.OpCode == ws.OpClose && !c.answered {
		c.answered = true
		c.Conn.Write(CloseReply(p)) // the server may be gone: nothing to do about an error
	}
	return h, p, err
}

// CloseReply is a client's answer to a server close frame with payload: a
// close frame with the same status code, or an empty one when it had none.
func CloseReply(payload []byte) []byte {
	if len(payload) < 2 {
		return Frame(ws.OpClose, nil)
	}
	return Frame(ws.OpClose, payload[:2])
}

// NextClose reads the next frame, which must be a close frame, and returns
// its code (1005 for an empty one). Another frame is ErrNotClose; a close
// payload that breaks RFC 6455 is wsframe's error.
func (c *Conn) NextClose() (ws.StatusCode, error) {
	h, p, err := c.Next()
	if err != nil {
		return 0, err
	}
	if h.OpCode != ws.OpClose {
		return 0, fmt.Errorf("%w: opcode %d, % .16x", ErrNotClose, h.OpCode, p)
	}
	code, _, err := wsframe.ParseClose(p)
	return code, err
}

// Frame is a final client frame masked with Mask.
func Frame(op ws.OpCode, payload []byte) []byte {
	return wsframe.AppendMaskedFrame(nil, op, true, Mask, payload)
}

// Text is a final client text frame masked with Mask.
func Text(s string) []byte { return Frame(ws.OpText, []byte(s)) }

// CloseFrame is a client close frame with code and reason, masked with Mask.
func CloseFrame(code ws.StatusCode, reason string) []byte {
	f := wsframe.AppendClose(nil, code, reason)
	return Frame(ws.OpClose, f[wsframe.HeaderLen(f[1]):])
}
