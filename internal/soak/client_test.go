//go:build linux

package soak

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe/wsclient"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// faultVariants are the servers the fault tests run against: the production
// variant and one goroutine-per-connection variant.
var faultVariants = []string{variants.Default, "gorilla-sharded-batched"}

// client is a WebSocket client on a bare socket, light enough for thousands
// of connections in one process: no goroutine of its own, a small read
// buffer, and a receive buffer that can be made small (SO_RCVBUF set before
// connecting) so that a client which stops reading stalls the server soon.
type client struct {
	nc  net.Conn
	ws  *wsclient.Conn
	wmu sync.Mutex // one writer at a time: a heartbeat may write beside requests
}

// dial connects to addr and completes the WebSocket handshake. rcvbuf > 0
// sets the socket's receive buffer; bufSize is the read buffer, which should
// hold the largest frame the client reads with a deadline (see frame).
func dial(addr string, rcvbuf, bufSize int) (*client, error) {
	cfg := wsclient.Config{Dialer: net.Dialer{Timeout: 20 * time.Second}, Timeout: 20 * time.Second, BufSize: bufSize}
	if rcvbuf > 0 {
		cfg.Dialer.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	c, err := wsclient.Dial(addr, cfg)
	if err != nil {
		return nil, err
	}
	return &client{nc: c.Conn, ws: c}, nil
}

// write sends b as it is.
func (c *client) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

// text sends one masked text frame.
func (c *client) text(s string) error { return c.write(wsclient.Text(s)) }

// pong sends an unsolicited pong control frame: a heartbeat that asks for
// no answer (RFC 6455, 5.5.3).
func (c *client) pong() error {
	return c.write(wsclient.Frame(ws.OpPong, nil))
}

// closeFrame sends a masked close frame with code.
func (c *client) closeFrame(code ws.StatusCode) error {
	return c.write(wsclient.CloseFrame(code, "bye"))
}

// frame reads the next server frame; the payload is valid until the next
// call. A frame that fits in the read buffer is consumed only once complete,
// so a read deadline that passes leaves the stream intact for the next call.
func (c *client) frame() (ws.OpCode, []byte, error) {
	h, p, err := c.ws.Next()
	if err != nil {
		return 0, nil, err
	}
	if !h.Fin || h.Rsv != 0 || h.Masked {
		return 0, nil, fmt.Errorf("server frame header %+v: want final, unmasked, no reserved bits", h)
	}
	return h.OpCode, p, nil
}

// closeCode is the code of a close frame's payload, 0 for none.
func closeCode(p []byte) int {
	if len(p) < 2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(p))
}

// request sends req and reads until its reply, handing every push that
// comes before it to onPush. It fails unless the reply has status 0.
func (c *client) request(req string, onPush func(topic string, seq int64, end bool) error) error {
	if err := c.text(req); err != nil {
		return err
	}
	return c.await(req, onPush)
}

// await reads until the reply to req (sent already), handing every push
// that comes before it to onPush. It fails unless the reply has status 0.
func (c *client) await(req string, onPush func(topic string, seq int64, end bool) error) error {
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer c.nc.SetReadDeadline(time.Time{})
	for {
		op, p, err := c.frame()
		if err != nil {
			return fmt.Errorf("reply to %s: %w", req, err)
		}
		if op == ws.OpClose {
			return fmt.Errorf("reply to %s: close %d", req, closeCode(p))
		}
		m, err := parse(p)
		if err != nil {
			return err
		}
		switch m.kind {
		case kindPush:
			if onPush != nil {
				if err := onPush(m.topic, m.seq, m.end); err != nil {
					return err
				}
			}
		case kindReply:
			if m.status != 0 {
				return fmt.Errorf("reply to %s: status %d %s", req, m.status, m.message)
			}
			return nil
		}
	}
}

// Push payloads: 12 decimal digits of sequence number, a flag ('E' on the
// end marker, '.' otherwise), two bytes of '.', then padding: 15 bytes, whose
// base64 (20 characters) does not depend on what follows.
const seqLen = 15

func payload(seq int64, end bool, size int) []byte {
	b := make([]byte, max(size, seqLen))
	copy(b, fmt.Sprintf("%012d", seq))
	for i := 12; i < len(b); i++ {
		b[i] = '.'
	}
	if end {
		b[12] = 'E'
	}
	return b
}

type kind uint8

const (
	kindOther kind = iota
	kindPush
	kindReply
	kindPong
)

// msg is one server text message as the tests need it.
type msg struct {
	kind    kind
	topic   string // a push's topic; "*" for a push to every connection
	seq     int64
	end     bool
	status  int
	message string
}

var dataKey = []byte(`"data":"`)

// parse decodes a server text message. Pushes, the bulk of the traffic, are
// read without a JSON decoder: `{"code":7,"topic":"t","data":"<base64>"}`.
func parse(p []byte) (msg, error) {
	if string(p) == "pong" {
		return msg{kind: kindPong}, nil
	}
	if len(p) > 10 && string(p[:8]) == `{"code":` && p[8] >= '7' && p[8] <= '9' && p[9] == ',' {
		m := msg{kind: kindPush, topic: "*"}
		rest := p[10:]
		if t, ok := bytes.CutPrefix(rest, []byte(`"topic":"`)); ok {
			i := bytes.IndexByte(t, '"')
			if i < 0 {
				return m, fmt.Errorf("push without topic end: %.80s", p)
			}
			m.topic = string(t[:i])
		}
		i := bytes.Index(p, dataKey)
		if i < 0 || len(p) < i+len(dataKey)+20 {
			return m, fmt.Errorf("push without data: %.80s", p)
		}
		var head [seqLen]byte
		if _, err := base64.StdEncoding.Decode(head[:], p[i+len(dataKey):i+len(dataKey)+20]); err != nil {
			return m, fmt.Errorf("push data: %w: %.80s", err, p)
		}
		seq, err := strconv.ParseInt(string(head[:12]), 10, 64)
		if err != nil {
			return m, fmt.Errorf("push sequence: %w: %.80s", err, p)
		}
		m.seq, m.end = seq, head[12] == 'E'
		return m, nil
	}
	var r struct {
		Code    int    `json:"code"`
		Status  *int   `json:"status"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(p, &r); err != nil {
		return msg{}, fmt.Errorf("server message %.80q: %w", p, err)
	}
	if r.Status == nil {
		return msg{kind: kindOther}, nil
	}
	return msg{kind: kindReply, status: *r.Status, message: r.Message}, nil
}

// seqs checks that every topic's pushes arrive in order and without gaps:
// from sequence 0 when the client subscribed before the first push
// (fromZero), else from the first one it sees.
type seqs struct {
	fromZero bool
	next     map[string]int64
	ended    map[string]bool
	n        int64 // pushes seen
}

func newSeqs(fromZero bool) *seqs {
	return &seqs{fromZero: fromZero, next: map[string]int64{}, ended: map[string]bool{}}
}

func (s *seqs) see(topic string, seq int64, end bool) error {
	s.n++
	want, ok := s.next[topic]
	if !ok && !s.fromZero {
		want = seq
	}
	if s.ended[topic] {
		return fmt.Errorf("topic %q: push %d after the end marker", topic, seq)
	}
	if seq != want {
		return fmt.Errorf("topic %q: push %d arrived where %d was due", topic, seq, want)
	}
	s.next[topic] = seq + 1
	if end {
		s.ended[topic] = true
	}
	return nil
}

// forget stops checking topic (unsubscribed).
func (s *seqs) forget(topic string) {
	delete(s.next, topic)
	delete(s.ended, topic)
}

// drain reads c until the server ends the stream, or until done (when not
// nil) holds after a push: it returns the close code the server sent (0 for
// none) and whether the socket ended (EOF or a reset) within d. Every push
// goes to tr. A stream that ends inside a frame is an error,
// io.ErrUnexpectedEOF.
func drain(c *client, tr *seqs, d time.Duration, done func() bool) (code int, ended bool, err error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	for {
		op, p, ferr := c.frame()
		switch {
		case ferr == nil:
		case errors.Is(ferr, io.EOF), errors.Is(ferr, syscall.ECONNRESET):
			return code, true, nil
		default:
			return code, false, ferr
		}
		switch op {
		case ws.OpClose:
			if code != 0 {
				return code, false, fmt.Errorf("a second close frame (%d after %d)", closeCode(p), code)
			}
			code = closeCode(p)
			if code == 0 {
				code = -1 // a close frame without a code
			}
		case ws.OpText:
			if code != 0 {
				return code, false, errors.New("a message after the close frame")
			}
			m, perr := parse(p)
			if perr != nil {
				return code, false, perr
			}
			if m.kind == kindPush {
				if serr := tr.see(m.topic, m.seq, m.end); serr != nil {
					return code, false, serr
				}
				if done != nil && done() {
					return code, false, nil
				}
			}
		}
	}
}

// memory fetches /debug/gpush/memory: figures after a forced GC.
func memory(s *st.Server) (server.MemoryReport, error) {
	var rep server.MemoryReport
	hc := http.Client{Timeout: 60 * time.Second}
	resp, err := hc.Get(s.HTTPURL + "/debug/gpush/memory")
	if err != nil {
		return rep, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return rep, fmt.Errorf("memory: status %d", resp.StatusCode)
	}
	err = json.NewDecoder(resp.Body).Decode(&rep)
	hc.CloseIdleConnections()
	return rep, err
}

// baseline warms up the push API (its client connection and server workers
// exist from the first call on) and returns the memory report of the
// server with no connection.
func baseline(t *testing.T, s *st.Server) server.MemoryReport {
	t.Helper()
	require.NoError(t, s.PushGRPC("", "warm", []byte("warm"), ""))
	code, _, err := s.PushHTTP(st.PushJSON("", "warm", []byte("warm")), "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	http.DefaultClient.CloseIdleConnections()
	var rep server.MemoryReport
	for range 3 { // sync.Pools empty over two collections
		rep, err = memory(s)
		require.NoError(t, err)
	}
	require.Zero(t, rep.Conns, "no connection at the baseline")
	return rep
}

// slack is how far above the baseline a settled server may be.
type slack struct {
	goroutines int
	heap       uint64
}

// settle polls the memory report until the server holds conns connections
// and its goroutines and heap are back within slack of base, then asserts
// each figure (failing with the last report after deadline).
func settle(t *testing.T, s *st.Server, base server.MemoryReport, conns int64, sl slack, deadline time.Duration) server.MemoryReport {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	var rep server.MemoryReport
	var err error
	for end := time.Now().Add(deadline); ; {
		rep, err = memory(s)
		require.NoError(t, err, "the server answers /debug/gpush/memory")
		if rep.Conns == conns && rep.Goroutines <= base.Goroutines+sl.goroutines && rep.HeapBytes <= base.HeapBytes+sl.heap {
			break
		}
		if time.Now().After(end) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	assert.Equal(t, conns, rep.Conns, "connections back to the baseline")
	assert.LessOrEqual(t, rep.Goroutines, base.Goroutines+sl.goroutines, "goroutines back to the baseline %d (slack %d)", base.Goroutines, sl.goroutines)
	assert.LessOrEqual(t, rep.HeapBytes, base.HeapBytes+sl.heap, "heap after GC back to the baseline %d (slack %d)", base.HeapBytes, sl.heap)
	t.Logf("settled: conns %d, goroutines %d (baseline %d), heap %.1f MiB (baseline %.1f MiB)",
		rep.Conns, rep.Goroutines, base.Goroutines, mib(rep.HeapBytes), mib(base.HeapBytes))
	return rep
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// errs collects failures from many goroutines; the test reports the first
// few and how many there were.
type errs struct {
	mu    sync.Mutex
	first []string
	n     int
}

func (e *errs) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.first) < 20 {
		e.first = append(e.first, fmt.Sprintf(format, args...))
	}
}

func (e *errs) check(t *testing.T, what string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	assert.Zero(t, e.n, "%s: %d failures, the first: %q", what, e.n, e.first)
}

// closes is how many closes with code the server initiated.
func closes(s *core.Stats, code int) int64 {
	for i, c := range core.CloseCodes {
		if c == code {
			return s.Closes[i].Load()
		}
	}
	panic(fmt.Sprintf("close code %d is not counted", code))
}
