//go:build linux

package epoll

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/core/wsframe/wsclient"
	"github.com/gpush/gpush/variants/policy"
	"github.com/gpush/gpush/variants/registry"
)

// These tests run a whole Transport: its loops, and Serve on a real TCP
// listener, read the handshakes.

// admissions is a Gate's Admit and Done that count, refusing with status
// while it is not 0.
type admissions struct {
	status       atomic.Int32
	admits, done atomic.Int32

	mu     sync.Mutex
	failed map[string]int // Gate.Failed's reasons
}

// failures returns how many requests failed for reason.
func (a *admissions) failures(reason string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failed[reason]
}

func (a *admissions) gate(timeout time.Duration) core.Gate {
	return core.Gate{Path: "/ws", MaxHeaderBytes: 4096, Timeout: timeout,
		Admit: func(string) (int, string) {
			if s := a.status.Load(); s != 0 {
				return int(s), "refused by the test"
			}
			a.admits.Add(1)
			return 0, ""
		},
		Done: func() { a.done.Add(1) },
		Failed: func(reason string) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.failed == nil {
				a.failed = map[string]int{}
			}
			a.failed[reason]++
		},
	}
}

// serving starts a Transport serving the handshakes of a listener by g,
// and returns the listener's address.
func serving(t *testing.T, g core.Gate) (*Transport, string) {
	hub := core.NewHub(core.Config{Registry: registry.NewSharded(4), Policy: policy.Immediate{}})
	tr, err := New(hub)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- tr.Serve(ln, g) }()
	t.Cleanup(func() {
		ln.Close()
		assert.NoError(t, <-served, "Serve returns nil once its listener is closed")
		hub.Drain(t.Context())
		tr.Close()
		hub.Close()
	})
	return tr, ln.Addr().String()
}

// shakes counts the handshakes the transport's loops hold.
func (t *Transport) shakesHeld() int {
	n := 0
	for _, l := range t.loops {
		l.mu.Lock()
		n += len(l.shakes)
		l.mu.Unlock()
	}
	return n
}

func dialRaw(t *testing.T, addr string) net.Conn {
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)), "a safety net, not a timing")
	return nc
}

// roundTrip subscribes on c and checks the reply: the connection serves.
func roundTrip(t *testing.T, r *wsframe.Reader, nc net.Conn, topic string) {
	t.Helper()
	_, err := nc.Write(subscribe(topic))
	require.NoError(t, err)
	_, payload, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, reply(topic), string(payload))
}

// upgraded reads the 101 from a raw connection and returns its frame reader.
func upgraded(t *testing.T, nc net.Conn) *wsframe.Reader {
	t.Helper()
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	return &wsframe.Reader{R: br}
}

// TestHandshakeInPieces: a request that arrives a byte at a time is parsed
// as it comes, on the loop, and blocks no one: another client upgrades and
// is served in the middle of it.
func TestHandshakeInPieces(t *testing.T) {
	var a admissions
	_, addr := serving(t, a.gate(10*time.Second))
	slow := dialRaw(t, addr)
	req := []byte(wsclient.UpgradeRequest(addr, "/ws"))
	for i := range len(req) - 1 {
		_, err := slow.Write(req[i : i+1])
		require.NoError(t, err)
		if i == len(req)/2 {
			fast, err := wsclient.Dial(addr, wsclient.Config{Timeout: 10 * time.Second})
			require.NoError(t, err, "an upgrade while another request is half sent")
			roundTrip(t, &fast.Frames, fast.Conn, "fast")
			fast.Close()
		}
	}
	_, err := slow.Write(append(req[len(req)-1:], subscribe("slow")...)) // the request's last byte and a frame, in one write
	require.NoError(t, err)
	r := upgraded(t, slow)
	_, payload, err := r.Next()
	require.NoError(t, err, "the frame sent with the request's end is read")
	assert.Equal(t, reply("slow"), string(payload))
	roundTrip(t, r, slow, "again")
	assert.Equal(t, int32(2), a.admits.Load())
	assert.Equal(t, int32(2), a.done.Load(), "every admission ended")
}

// TestHandshakeWholeWithFrames: frames sent in the write of a whole
// request (parsed from the loop's read buffer, not a handshake's own) are
// the connection's first.
func TestHandshakeWholeWithFrames(t *testing.T) {
	var a admissions
	_, addr := serving(t, a.gate(10*time.Second))
	nc := dialRaw(t, addr)
	b := append([]byte(wsclient.UpgradeRequest(addr, "/ws")), subscribe("one")...)
	_, err := nc.Write(append(b, subscribe("two")...))
	require.NoError(t, err)
	r := upgraded(t, nc)
	for _, topic := range []string{"one", "two"} {
		_, payload, err := r.Next()
		require.NoError(t, err, topic)
		assert.Equal(t, reply(topic), string(payload))
	}
}

// TestHandshakeNoGoroutine: handshakes in progress hold no goroutine; the
// loops hold them, and they end at the timeout without an answer.
func TestHandshakeNoGoroutine(t *testing.T) {
	const n = 200
	var a admissions
	tr, addr := serving(t, a.gate(300*time.Millisecond))
	before := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dialRaw(t, addr)
		_, err := io.WriteString(conns[i], "GET /ws HTTP/1.1\r\nHost: x\r\n") // never ends
		require.NoError(t, err)
	}
	waitUntil(t, func() bool { return tr.shakesHeld() == n }, "every half request is a handshake of a loop")
	assert.LessOrEqual(t, runtime.NumGoroutine(), before+2, "no goroutine per handshake")
	for i, nc := range conns {
		_, err := nc.Read(make([]byte, 1))
		assert.ErrorIs(t, err, io.EOF, "conn %d: closed at the timeout, without an answer", i)
	}
	waitUntil(t, func() bool { return tr.shakesHeld() == 0 }, "the loops forgot them")
	assert.Zero(t, a.admits.Load(), "none reached the gate")
	assert.Equal(t, n, a.failures(core.HandshakeTimeout), "each told to Gate.Failed as a timeout")
}

// TestHandshakeRefused: a request the transport or the gate refuses gets
// its status and Connection: close (400 for a request line gobwas cannot
// parse, which it answers with nothing), then the end of the connection.
func TestHandshakeRefused(t *testing.T) {
	var a admissions
	tr, addr := serving(t, a.gate(10*time.Second))
	cases := []struct {
		name, req string
		status    int32 // the gate's
		want      int
		reason    string // told to Gate.Failed; none for the gate's own refusal
	}{
		{"wrong path", wsclient.UpgradeRequest(addr, "/nope"), 0, 404, core.HandshakeNotFound},
		{"no key", strings.Replace(wsclient.UpgradeRequest(addr, "/ws"), "Sec-WebSocket-Key", "X-Key", 1), 0, 400, core.HandshakeBadRequest},
		{"not GET", strings.Replace(wsclient.UpgradeRequest(addr, "/ws"), "GET", "POST", 1), 0, 405, core.HandshakeBadRequest},
		{"headers over the limit", wsclient.UpgradeRequest(addr, "/ws", "Cookie: "+strings.Repeat("a", 5000)+"\r\n"), 0, 431, core.HandshakeTooLarge},
		{"gate refuses", wsclient.UpgradeRequest(addr, "/ws"), 503, 503, ""},
		{"malformed request line", strings.Replace(wsclient.UpgradeRequest(addr, "/ws"), " HTTP/1.1", "", 1), 0, 400, core.HandshakeBadRequest},
		{"HTTP/1.0", strings.Replace(wsclient.UpgradeRequest(addr, "/ws"), "HTTP/1.1", "HTTP/1.0", 1), 0, 505, core.HandshakeBadRequest},
	}
	want := map[string]int{}
	for _, tc := range cases {
		if tc.reason != "" {
			want[tc.reason]++
		}
		a.status.Store(tc.status)
		nc := dialRaw(t, addr)
		_, err := io.WriteString(nc, tc.req)
		require.NoError(t, err)
		br := bufio.NewReader(nc)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, tc.name)
		resp.Body.Close()
		assert.Equal(t, tc.want, resp.StatusCode, tc.name)
		assert.True(t, resp.Close, "%s: Connection: close, as net/http said (ReadResponse takes the header out)", tc.name)
		_, err = io.Copy(io.Discard, br)
		assert.NoError(t, err, "%s: the server closes after its answer (EOF)", tc.name)
	}
	waitUntil(t, func() bool { return tr.shakesHeld() == 0 }, "refused handshakes are closed")
	for reason, n := range want {
		assert.Equal(t, n, a.failures(reason), "Gate.Failed(%q)", reason)
	}
	assert.Zero(t, a.failures(core.HandshakeTimeout), "a refused handshake's linger is not a timeout")
	assert.Zero(t, a.admits.Load(), "no request was admitted")
	assert.Zero(t, tr.hub.Stats().Conns.Load(), "no connection opened")
}

// TestHandshakeAfterClose: a socket accepted after the loops exited is
// closed, not left in a table no one reads.
func TestHandshakeAfterClose(t *testing.T) {
	var a admissions
	tr, addr := serving(t, a.gate(10*time.Second))
	tr.cancel()
	for _, l := range tr.loops {
		l.p.Wake()
	}
	for _, l := range tr.loops {
		waitUntil(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.closed }, "the loop exited")
	}
	nc := dialRaw(t, addr)
	_, err := nc.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "closed at once")
	assert.Zero(t, tr.shakesHeld())
}

// TestHandshakeLineEnds: a request whose lines end in a bare LF, or whose
// blank line does, is whole at its blank line, as net/http and gobwas read
// it, wherever the reads cut it (a byte at a time).
func TestHandshakeLineEnds(t *testing.T) {
	var a admissions
	_, addr := serving(t, a.gate(10*time.Second))
	crlf := wsclient.UpgradeRequest(addr, "/ws")
	for name, req := range map[string]string{
		"LF":                  strings.ReplaceAll(crlf, "\r\n", "\n"),
		"CRLF, blank line LF": strings.TrimSuffix(crlf, "\r\n") + "\n",
		"LF, blank line CRLF": strings.ReplaceAll(strings.TrimSuffix(crlf, "\r\n"), "\r\n", "\n") + "\r\n",
	} {
		nc := dialRaw(t, addr)
		for i := range len(req) {
			_, err := io.WriteString(nc, req[i:i+1])
			require.NoError(t, err, name)
		}
		roundTrip(t, upgraded(t, nc), nc, "a")
	}
	assert.Equal(t, int32(3), a.done.Load(), "every request upgraded")
}

// TestRefusedReadsBounded: what a refused client sends on is discarded a
// few buffers a turn, as a connection's bytes are read, not until the
// socket is empty: a client that keeps sending cannot hold its loop from
// the others. The rest waits for the next edge, or the deadline.
func TestRefusedReadsBounded(t *testing.T) {
	l := testLoop(t)
	var fds [2]int // a pipe holds more unread bytes than a socket pair, and reads as one
	require.NoError(t, unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC))
	defer unix.Close(fds[1])
	_, err := unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, 1<<20)
	require.NoError(t, err)
	sent := 0
	for chunk := make([]byte, readBufSize); ; {
		n, err := unix.Write(fds[1], chunk)
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		require.NoError(t, err)
		sent += n
	}
	turn := readsPerTurn * readBufSize
	require.Greater(t, sent, 2*turn, "the client sent more than two turns read")
	h := &handshake{fd: int32(fds[0]), refused: true}
	l.shakes[h.fd] = h
	defer l.drop(h)
	for i := 1; i <= 2; i++ {
		l.shake(hsKey(h.fd))
		left, err := unix.IoctlGetInt(fds[0], unix.SIOCINQ) // FIONREAD: the bytes unread
		require.NoError(t, err)
		assert.Equal(t, sent-i*turn, left, "turn %d read %d buffers", i, readsPerTurn)
	}
	assert.Same(t, h, l.shakes[h.fd], "still lingering")
}

// TestUpgraderPooledReader: a header limit past the largest reader gobwas
// pools costs no reader of its size per handshake.
func TestUpgraderPooledReader(t *testing.T) {
	const n = 20
	var a admissions
	g := a.gate(10 * time.Second)
	g.MaxHeaderBytes = 1 << 20
	up := (&loop{}).upgrader(g)
	req := []byte(wsclient.UpgradeRequest("example.com", "/ws"))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		var rw memRW
		rw.in.Reset(req)
		_, err := up.Upgrade(&rw)
		require.NoError(t, err)
	}
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(n*g.MaxHeaderBytes/4),
		"%d handshakes allocated less than a quarter of a 1 MiB reader each", n)
	assert.Equal(t, int32(n), a.admits.Load())
}

// TestHandshakeAnswerNotWritten: a request admitted whose 101 cannot be
// written (the client reset the connection while the gate decided) ends
// its admission and is closed; no connection opens.
func TestHandshakeAnswerNotWritten(t *testing.T) {
	const tcpClose = 7 // TCP_CLOSE (include/net/tcp_states.h): the reset arrived
	var a admissions
	g := a.gate(10 * time.Second)
	entered, proceed := make(chan struct{}), make(chan struct{})
	admit, release := g.Admit, sync.OnceFunc(func() { close(proceed) })
	g.Admit = func(origin string) (int, string) {
		close(entered)
		<-proceed
		return admit(origin)
	}
	tr, addr := serving(t, g)
	t.Cleanup(release) // before serving's: a failed test must not leave the loop waiting
	nc := dialRaw(t, addr)
	_, err := io.WriteString(nc, wsclient.UpgradeRequest(addr, "/ws"))
	require.NoError(t, err)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		require.Fail(t, "the gate was not asked")
	}
	fds := tr.shakeFds()
	require.Len(t, fds, 1)
	require.NoError(t, nc.(*net.TCPConn).SetLinger(0))
	require.NoError(t, nc.Close()) // a reset
	waitUntil(t, func() bool {
		info, err := unix.GetsockoptTCPInfo(fds[0], unix.IPPROTO_TCP, unix.TCP_INFO)
		return err == nil && info.State == tcpClose
	}, "the server's socket saw the reset")
	release()
	waitUntil(t, func() bool { return a.done.Load() == 1 }, "the admission ended")
	waitUntil(t, func() bool { return tr.shakesHeld() == 0 }, "the handshake is closed")
	assert.Equal(t, int32(1), a.admits.Load())
	assert.Zero(t, tr.hub.Stats().Conns.Load(), "no connection opened")
}

// shakeFds returns the descriptors of the handshakes the loops hold.
func (t *Transport) shakeFds() []int {
	var fds []int
	for _, l := range t.loops {
		l.mu.Lock()
		for fd := range l.shakes {
			fds = append(fds, int(fd))
		}
		l.mu.Unlock()
	}
	return fds
}

// TestServeBrokenListener: Serve returns an error when its listener fails
// for good (a listening socket shut for reading: accept(2) says EINVAL),
// as net/http's Serve does, instead of retrying for ever while the node
// looks ready.
func TestServeBrokenListener(t *testing.T) {
	hub := core.NewHub(core.Config{Registry: registry.NewSharded(4), Policy: policy.Immediate{}})
	t.Cleanup(hub.Close)
	tr, err := New(hub)
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var a admissions
	served := make(chan error, 1)
	go func() { served <- tr.Serve(ln, a.gate(10*time.Second)) }()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	require.NoError(t, err)
	require.NoError(t, rc.Control(func(fd uintptr) { require.NoError(t, unix.Shutdown(int(fd), unix.SHUT_RD)) }))
	select {
	case err := <-served:
		assert.ErrorIs(t, err, unix.EINVAL, "Serve says why")
	case <-time.After(10 * time.Second):
		t.Fatal("Serve kept retrying a broken listener")
	}
}

// TestServeWaitsOutEMFILE: out of descriptors, Serve waits and accepts
// again once there are some.
func TestServeWaitsOutEMFILE(t *testing.T) {
	var a admissions
	_, addr := serving(t, a.gate(10*time.Second))
	failed := make(chan struct{}, 1)
	prev := slog.Default()
	slog.SetDefault(slog.New(hookHandler{msg: "epoll transport: accept failed", hit: failed}))
	defer slog.SetDefault(prev)

	var lim unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &lim))
	open, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	tight := lim
	tight.Cur = uint64(len(open) + 16)
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &tight))
	restore := sync.OnceFunc(func() { require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)) })
	defer restore()
	var fillers []int // every descriptor left but one, which the client takes
	defer func() {
		for _, fd := range fillers {
			unix.Close(fd)
		}
	}()
	for {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			require.ErrorIs(t, err, unix.EMFILE)
			break
		}
		fillers = append(fillers, fd)
	}
	require.NotEmpty(t, fillers)
	unix.Close(fillers[len(fillers)-1])
	fillers = fillers[:len(fillers)-1]
	waiting, err := net.Dial("tcp", addr) // in the backlog; the server has no descriptor to accept it
	require.NoError(t, err)
	t.Cleanup(func() { waiting.Close() })
	select {
	case <-failed:
	case <-time.After(10 * time.Second):
		restore()
		t.Fatal("the accept never failed: the limit did not bite")
	}
	restore()
	require.NoError(t, waiting.SetDeadline(time.Now().Add(10*time.Second)), "a safety net, not a timing")
	_, err = io.WriteString(waiting, wsclient.UpgradeRequest(addr, "/ws"))
	require.NoError(t, err)
	r := upgraded(t, waiting) // accepted once descriptors were free again
	roundTrip(t, r, waiting, "after-emfile")
}

// hookHandler is a slog.Handler that signals hit when a record with msg
// arrives, and drops every record.
type hookHandler struct {
	msg string
	hit chan struct{}
}

func (h hookHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h hookHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.hit <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h hookHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h hookHandler) WithGroup(string) slog.Handler      { return h }
