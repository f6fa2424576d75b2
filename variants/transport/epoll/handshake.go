package epoll

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/variants/transport/epoll/poll"
)

// The upgrade handshake on the loops (Serve). net/http serves each socket
// from a goroutine of its own until the upgrade; here the loop that will
// read the connection's frames reads its request too, as the bytes arrive,
// so a handshake costs no goroutine, and a burst of reconnects no burst of
// goroutine stacks (docs/hotpath.md). Until the request is whole, a socket
// is a handshake in its loop's shakes, not a conn.

// hsTag marks a handshake's epoll key: its descriptor with the top bit set.
// A conn's key carries its ID there instead (connKey); a stale event of one
// kind that matched the other would only cost a read that finds nothing.
const hsTag = 1 << 63

// refusedLinger is how long a refused request's socket stays open, shut
// for writing, for the client to read the answer and close first: closing
// with its unread bytes would reset the connection and could lose the
// answer.
const refusedLinger = time.Second

// handshake is a socket whose upgrade request is still arriving.
type handshake struct {
	fd       int32
	refused  bool   // answered with an error and shut for writing: reads are discarded until EOF
	buf      []byte // the request so far, when it came in pieces; none when it came whole
	scanned  int    // bytes of buf searched for the blank line that ends the request (headEnd)
	deadline int64  // unix nanoseconds; the sweep closes it after
}

func hsKey(fd int32) uint64 { return uint64(uint32(fd)) | hsTag }

// Answers the loops write themselves, as net/http's server would: to a
// request whose headers pass Gate.MaxHeaderBytes, and to one gobwas
// refuses without an answer of its own.
var (
	tooLarge   = plainAnswer(http.StatusRequestHeaderFieldsTooLarge)
	badRequest = plainAnswer(http.StatusBadRequest)
)

// plainAnswer is an HTTP error response with its status as the text, that
// closes the connection.
func plainAnswer(status int) []byte {
	text := fmt.Sprintf("%d %s", status, http.StatusText(status))
	return []byte("HTTP/1.1 " + text + "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" + text)
}

var (
	crlf            = []byte("\r\n")
	connectionClose = []byte("Connection: close\r\n")
)

var errShortWrite = errors.New("epoll: the handshake's answer did not fit the socket")

// Serve accepts connections from ln until it is closed and upgrades them on
// the event loops, by g's rules: path, size and time limits, and the
// server's admission. It returns nil once ln is closed, and an error when
// accepting fails for good; it waits out a lack of descriptors or memory.
// Call it once.
func (t *Transport) Serve(ln net.Listener, g core.Gate) error {
	t.gate = g
	for _, l := range t.loops { // before the first handshake: greet's l.mu publishes them to the loop
		l.up = l.upgrader(g)
		l.sweepEvery = min(max(g.Timeout/10, 10*time.Millisecond), time.Second)
	}
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil && !transient(err) { // the listener is broken: say so, as net/http's Serve does
			return fmt.Errorf("epoll transport: accept: %w", err)
		}
		if err != nil { // out of descriptors, most often: wait, as net/http does
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			slog.Warn("epoll transport: accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		t.take(nc)
	}
}

// transient reports whether an accept error may pass by itself: the
// process or the system is out of descriptors or memory, or the peer went
// away first (the errors Go's net package calls temporary).
func transient(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN, syscall.ETIMEDOUT} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// take hands an accepted socket to its loop as a handshake.
func (t *Transport) take(nc net.Conn) {
	if fd, ok := detach(nc); ok {
		t.loops[fd%len(t.loops)].greet(fd) // the loop that will read its frames (loop.conns)
	}
}

// detach takes nc's socket out of the Go runtime's poller as a raw
// descriptor and closes nc, reporting whether it could.
func detach(nc net.Conn) (int, bool) {
	defer nc.Close()
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, false
	}
	fd, err := poll.Detach(sc)
	return fd, err == nil
}

// greet makes fd a handshake of this loop.
func (l *loop) greet(fd int) {
	h := &handshake{fd: int32(fd), deadline: time.Now().Add(l.t.gate.Timeout).UnixNano()}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		poll.Close(fd)
		return
	}
	l.shakes[h.fd] = h
	l.nshakes.Store(int32(len(l.shakes)))
	first := len(l.shakes) == 1
	l.mu.Unlock()
	if err := l.p.Add(fd, hsKey(h.fd)); err != nil {
		l.drop(h)
		return
	}
	if first { // a loop waiting without a timeout must start sweeping
		l.p.Wake()
	}
}

// shake reads what a handshake's socket has, and answers the request once
// it is whole. key is the event's.
func (l *loop) shake(key uint64) {
	l.mu.Lock()
	h := l.shakes[int32(uint32(key))]
	l.mu.Unlock()
	if h == nil || hsKey(h.fd) != key {
		return
	}
	discarded := 0
	for {
		n, err := poll.Read(int(h.fd), l.buf)
		switch {
		case errors.Is(err, poll.ErrAgain):
			return
		case err != nil || n == 0:
			l.drop(h)
			return
		case h.refused: // discarded: the answer is sent
			if discarded++; discarded == readsPerTurn {
				return // as a connection's turn: the rest waits for the next edge, or the deadline
			}
		case l.request(h, l.buf[:n]):
			return // answered: what follows is the connection's (open)
		}
	}
}

// request adds b to h's request and answers it once it is whole, reporting
// whether it did.
func (l *loop) request(h *handshake, b []byte) bool {
	data := b
	if h.buf != nil {
		h.buf = append(h.buf, b...)
		data = h.buf
	}
	end := headEnd(data, max(h.scanned-2, 0)) // a blank line's LF, CR, LF may straddle the reads
	switch {
	case end < 0 && len(data) <= l.t.gate.MaxHeaderBytes:
		if h.buf == nil {
			h.buf = bytes.Clone(b)
		}
		h.scanned = len(data)
		return false
	case end < 0 || end > l.t.gate.MaxHeaderBytes:
		l.fail(core.HandshakeTooLarge)
		l.refuse(h, tooLarge)
		return true
	}
	l.upgrade(h, data[:end], data[end:])
	return true
}

// headEnd returns the length of the request head at the start of data,
// through the blank line that ends it, or -1 while it has not come. Lines
// end in CRLF or a bare LF, as net/http and gobwas read them. The search
// starts at from: data before it holds no line end followed by a blank line.
func headEnd(data []byte, from int) int {
	for {
		i := bytes.IndexByte(data[from:], '\n')
		if i < 0 {
			return -1
		}
		i += from
		switch rest := data[i+1:]; {
		case len(rest) > 0 && rest[0] == '\n':
			return i + 2
		case len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n':
			return i + 3
		}
		from = i + 1
	}
}

// upgrade answers a whole request: a connection opens with the bytes that
// followed it, or the socket gets the refusal.
func (l *loop) upgrade(h *handshake, req, early []byte) {
	l.rw.in.Reset(req)
	l.rw.out = l.rw.out[:0]
	l.origin, l.admitted, l.verdict = "", false, core.HandshakeBadRequest
	_, err := l.up.Upgrade(&l.rw)
	if err == nil {
		err = writeWhole(int(h.fd), l.rw.out)
	}
	switch {
	case err == nil:
		l.open(h, early)
	case l.admitted: // admitted, but the 101 did not go out
		slog.Debug("epoll transport: upgrade answer not written", "err", err)
		l.drop(h)
		l.t.gate.Done()
	default:
		l.fail(l.verdict)
		l.refuse(h, refusal(l.rw.out))
	}
}

// fail tells the gate why a request ends without an upgrade ("" for a
// refusal of the gate's own).
func (l *loop) fail(reason string) {
	if f := l.t.gate.Failed; f != nil && reason != "" {
		f(reason)
	}
}

// refusal is the Upgrader's answer to a request it refused, with
// Connection: close, as every refusal net/http's server sent for gpushd
// had: gobwas's own answers (400, 405, 426, 505) lack it. A request line
// it cannot parse gets no answer from it, and gets 400 here.
func refusal(answer []byte) []byte {
	line := bytes.Index(answer, crlf)
	if line < 0 {
		return badRequest
	}
	line += len(crlf)
	return slices.Concat(answer[:line], connectionClose, answer[line:])
}

// writeWhole writes b to a socket that must take it whole at once.
func writeWhole(fd int, b []byte) error {
	n, err := poll.Write(fd, b)
	if err == nil && n < len(b) {
		err = errShortWrite
	}
	return err
}

// open makes an upgraded handshake a connection of this loop, with the
// bytes the client sent after its request, and ends its admission.
func (l *loop) open(h *handshake, early []byte) {
	l.mu.Lock()
	l.forgetShake(h.fd)
	l.mu.Unlock()
	ec := l.attach(h.fd, early)
	l.t.gate.Done()
	if err := l.p.Mod(int(h.fd), connKey(ec)); err != nil {
		l.close(ec)
	}
}

// refuse sends answer (an HTTP error response), shuts the socket for
// writing and keeps reading, discarding, until the client closes or
// refusedLinger passes.
func (l *loop) refuse(h *handshake, answer []byte) {
	poll.Write(int(h.fd), answer) // a fresh socket's buffer holds it; if not, the client sees the close
	poll.ShutdownWrite(int(h.fd))
	h.refused, h.buf = true, nil
	l.mu.Lock()
	h.deadline = time.Now().Add(refusedLinger).UnixNano() // the sweep reads it under l.mu
	l.mu.Unlock()
}

// forgetShake takes fd's handshake out of shakes. l.mu is held.
func (l *loop) forgetShake(fd int32) {
	delete(l.shakes, fd)
	l.nshakes.Store(int32(len(l.shakes)))
}

// drop closes a handshake's socket, once whoever calls it.
func (l *loop) drop(h *handshake) {
	l.mu.Lock()
	mine := l.shakes[h.fd] == h
	if mine {
		l.forgetShake(h.fd)
	}
	l.mu.Unlock()
	if mine {
		poll.Close(int(h.fd))
	}
}

// sweep closes the handshakes past their deadline, at most every
// sweepEvery.
func (l *loop) sweep() {
	if l.nshakes.Load() == 0 {
		return
	}
	now := time.Now()
	if now.Before(l.nextSweep) {
		return
	}
	l.nextSweep = now.Add(l.sweepEvery)
	var late []*handshake
	l.mu.Lock()
	for _, h := range l.shakes {
		if now.UnixNano() >= h.deadline {
			late = append(late, h)
		}
	}
	l.mu.Unlock()
	for _, h := range late {
		if !h.refused { // a refused one's linger ends; this one's request never did
			l.fail(core.HandshakeTimeout)
		}
		l.drop(h)
	}
}

// waitMsec is how long the loop may wait for events: not past its next
// sweep while handshakes are pending.
func (l *loop) waitMsec() int {
	switch {
	case len(l.again) > 0:
		return 0
	case l.nshakes.Load() > 0:
		return int(l.sweepEvery.Milliseconds())
	}
	return -1
}

// upgrader checks a request by g's rules; the loop's origin and admitted
// carry what it learns to upgrade.
func (l *loop) upgrader(g core.Gate) ws.Upgrader {
	return ws.Upgrader{
		ReadBufferSize: min(g.MaxHeaderBytes, maxPooledReader), // longer lines are copied together
		OnRequest: func(uri []byte) error {
			u, err := url.ParseRequestURI(string(uri))
			if err != nil || u.Path != g.Path {
				l.verdict = core.HandshakeNotFound
				return rejection(http.StatusNotFound, "404 page not found")
			}
			return nil
		},
		OnHeader: func(key, value []byte) error {
			if bytes.EqualFold(key, []byte("Origin")) {
				l.origin = string(value)
			}
			return nil
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			if status, text := g.Admit(l.origin); status != 0 {
				l.verdict = "" // the gate counts its own
				return nil, rejection(status, text)
			}
			l.admitted = true
			return nil, nil
		},
	}
}

// rejection refuses a request with status and text (refusal adds
// Connection: close).
func rejection(status int, text string) error {
	return ws.RejectConnectionError(ws.RejectionStatus(status), ws.RejectionReason(text))
}

// maxPooledReader is the largest reader gobwas/ws pools: an Upgrader with
// a larger ReadBufferSize allocates one of that size per handshake.
const maxPooledReader = 64 << 10

// memRW is the request a handshake read, as the Upgrader reads it, and the
// answer it writes.
type memRW struct {
	in  bytes.Reader
	out []byte
}

func (m *memRW) Read(p []byte) (int, error)  { return m.in.Read(p) }
func (m *memRW) Write(p []byte) (int, error) { m.out = append(m.out, p...); return len(p), nil }
