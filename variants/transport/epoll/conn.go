package epoll

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/variants/transport/epoll/poll"
)

// conn is one connection of a loop: a raw descriptor, the parser's state
// while a frame is partial and the core connection. Idle, it holds no
// buffer, no parser and no goroutine: 48 bytes (TestConnSize). What all
// connections share is not kept here: the loop and the transport are
// passed to what needs them, and a login's queue lives in the
// transport's logins while one is in flight.
type conn struct {
	c *core.Conn

	// Owned by the loop goroutine (and by Upgrade before the loop knows fd).
	pk    wsframe.Parked // the parser's state while a frame or message is partial; the loop's Parser parses
	fd    int32          // a descriptor is an int, but a small one: 4 bytes keep conn in the 48-byte size class
	done  bool           // reading stopped: a close frame or a protocol error came
	gone  bool           // closed and forgotten; set under loop.mu (loop.forget)
	login bool           // a login's queue was stored in Transport.logins and may still take requests

	closed bool        // fd is closed: write nothing; guarded by wmu
	wmu    core.Kicker // one writer at a time; guards closed, and c while attach sets it (docs/locking.md)

	// Lingering close: once the close frame is written (stLingering), the
	// socket is shut for writing only and the loop reads on, discarding,
	// until the peer's close frame or EOF (or the hub's sweep aborts it
	// after Limits.CloseLinger): closing a socket with unread input would
	// reset it and lose the close frame still in the send queue. When the
	// peer's close came first (stPeerClosed), both sides are done: shut
	// both. One word for both bits: each side sets its bit and sees the
	// other's in the same atomic step.
	state atomic.Uint32

	// A socket known to be full gets no writev until EPOLLOUT: outGen counts
	// the EPOLLOUT edges (the loop adds one before it kicks), and a writer
	// that met EAGAIN stores in fullAt the count it saw before its writev,
	// plus one. The socket is full while fullAt == outGen+1 (modulo 2^32:
	// only equality counts, so the counts may wrap).
	outGen atomic.Uint32
	fullAt atomic.Uint32
}

// conn.state bits.
const (
	stLingering  uint32 = 1 << iota // our close frame is written
	stPeerClosed                    // the peer's close frame came
)

// lingering reports whether our close frame is written.
func (ec *conn) lingering() bool { return ec.state.Load()&stLingering != 0 }

// sock is the descriptor as the poll package takes it.
func (ec *conn) sock() int { return int(ec.fd) }

// sideQueue holds the requests that wait for a connection's own goroutine,
// which handles a login and what follows it: only then does a connection
// pay for a queue (Transport.logins). Stored and appended to by the loop
// only.
// It has no bound of its own: each request was counted against the rate
// limit when it arrived, and a client beyond twice the limit is closed, so
// every request within the limit is answered, in order, whatever precedes
// it.
type sideQueue struct {
	mu   sync.Mutex
	msgs []sideMsg // in order
	done bool      // the goroutine has finished: the loop handles requests again
}

// sideMsg is a request waiting behind a login, with its admission.
type sideMsg struct {
	msg []byte
	a   core.Admission
}

var errStop = errors.New("stop reading")

// feed parses bytes from the socket with p, the loop's Parser (or the
// attaching goroutine's own), which takes and parks the connection's state.
func (ec *conn) feed(t *Transport, p *wsframe.Parser, b []byte) {
	err := p.FeedParked(&ec.pk, b, func(op ws.OpCode, payload []byte) error {
		return ec.onFrame(t, op, payload)
	})
	if err == nil {
		return
	}
	ec.done = true
	var ce *wsframe.CloseError
	if errors.As(err, &ce) {
		ec.c.CloseWith(int(ce.Code), ce.Reason)
	}
}

// onFrame handles one complete message or control frame.
func (ec *conn) onFrame(t *Transport, op ws.OpCode, payload []byte) error {
	if ec.lingering() {
		return ec.lingerFrame(op)
	}
	ec.c.Touch() // idle means no complete frame: the bytes of an unfinished one do not count
	switch op {
	case ws.OpText:
		return ec.dispatch(t, payload)
	case ws.OpBinary:
		ec.c.CloseWith(core.CloseUnsupported, "binary frames are not accepted")
		return errStop
	case ws.OpPing:
		ec.c.Pong(payload)
	case ws.OpClose:
		code, _, _ := wsframe.ParseClose(payload) // the parser validated it
		if len(payload) < 2 {
			code = 0 // an empty close is echoed empty: 1005 is never sent
		}
		ec.peerClose()
		ec.c.EchoClose(int(code))
		return errStop
	}
	return nil
}

// lingerFrame handles a frame that came after the close frame was written:
// only the peer's close counts, which ends the connection (the loop reads
// the hang-up and closes).
func (ec *conn) lingerFrame(op ws.OpCode) error {
	if op != ws.OpClose {
		return nil
	}
	ec.peerClose()
	return errStop
}

// peerClose records the peer's close frame; when ours is written already,
// both sides are done: shut the socket, the loop closes it. It and
// closeWritten set their bits in one word, so one of the two sees the
// other.
func (ec *conn) peerClose() {
	if ec.state.Or(stPeerClosed)&stLingering != 0 {
		ec.Abort()
	}
}

// dispatch handles a request on the loop when it cannot block; a login,
// which may wait for an auth service, and everything the connection sends
// after it until it is done, go to a goroutine of their own, so a slow
// auth service delays only the connection that logs in.
func (ec *conn) dispatch(t *Transport, msg []byte) error {
	a := ec.c.Admit() // counted on arrival, even behind a login
	if a == core.Flooded {
		return errStop
	}
	if ec.login && ec.queue(t, msg, a) {
		return nil
	}
	req, ok := ec.c.ParseAdmitted(msg, a) // decoded once, on the loop
	if !ok {
		return nil
	}
	if !ec.c.MayBlock(req) {
		ec.c.Apply(t.ctx, req)
		return nil
	}
	q := &sideQueue{}
	t.logins.Store(ec, q)
	ec.login = true
	go ec.work(t, q, req)
	return nil
}

// queue appends msg to the queue of ec's login when its goroutine is
// still at work, and reports whether it did; else the login is over and
// the loop handles requests again.
func (ec *conn) queue(t *Transport, msg []byte, a core.Admission) bool {
	if v, ok := t.logins.Load(ec); ok {
		q := v.(*sideQueue)
		q.mu.Lock()
		defer q.mu.Unlock()
		if !q.done {
			q.msgs = append(q.msgs, sideMsg{append([]byte(nil), msg...), a})
			return true
		}
	}
	ec.login = false
	return false
}

// work applies first (a login) and then handles whatever queued behind it,
// in order; when nothing is left it marks q done and lets the loop handle
// requests again. Core recovers a panic in a request (close 1011). The
// replies to what waited leave together: one kick per login and one for
// the rest.
func (ec *conn) work(t *Transport, q *sideQueue, first core.Request) {
	ec.c.Apply(t.ctx, first)
	ec.c.Hold()
	defer ec.c.Release()
	for {
		q.mu.Lock()
		if len(q.msgs) == 0 {
			q.done = true
			q.mu.Unlock()
			t.endLogin(ec, q)
			return
		}
		m := q.msgs[0]
		q.msgs[0] = sideMsg{}
		q.msgs = q.msgs[1:]
		q.mu.Unlock()
		req, ok := ec.c.ParseAdmitted(m.msg, m.a)
		if ok && req.MayBlock() {
			ec.c.Release() // what came before the login need not wait for it
			ec.c.Apply(t.ctx, req)
			ec.c.Hold()
		} else if ok {
			ec.c.Apply(t.ctx, req)
		}
	}
}

// endLogin takes q, done, out of logins, unless a later login of ec has
// replaced it: the loop may start one as soon as it sees q done.
func (t *Transport) endLogin(ec *conn, q *sideQueue) {
	remove := func() bool { return t.logins.CompareAndDelete(ec, q) }
	if t.loginEnd != nil {
		t.loginEnd(remove)
		return
	}
	remove()
}

// maxIOV is the most buffers one writev carries: the kernel's IOV_MAX.
const maxIOV = 1024

// scratch is a writer's pooled space: the frames of one writev and their
// iovecs.
type scratch struct {
	iov  poll.IOV
	bufs [maxIOV][]byte
	flat []byte    // the frames of one write copied together (flatMax)
	one  [1][]byte // flat, as the one buffer of a write
}

// flatMax bounds a write whose frames are copied into one buffer and
// written with write(2): below it, copying is cheaper than handing the
// kernel one iovec per frame (BenchmarkWriteFrames: 20-29% less per frame;
// in interleaved floods 0.925 of writev's CPU per delivery, the median of
// 14 pairs, issue 12).
const flatMax = 16 << 10

// gather returns bufs as one buffer of sc's when they are several and
// small together, else bufs itself.
func (sc *scratch) gather(bufs [][]byte) [][]byte {
	if len(bufs) < 2 {
		return bufs
	}
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	if n > flatMax {
		return bufs
	}
	if sc.flat == nil {
		sc.flat = make([]byte, 0, flatMax)
	}
	sc.flat = sc.flat[:0]
	for _, b := range bufs {
		sc.flat = append(sc.flat, b...)
	}
	sc.one[0] = sc.flat
	return sc.one[:]
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Kick implements core.Link: the caller writes what is queued, unless
// another goroutine is writing, which then writes it too.
func (ec *conn) Kick() { ec.wmu.Kick(ec.flush) }

// outReady is the loop's EPOLLOUT: the socket has room again.
func (ec *conn) outReady() {
	ec.outGen.Add(1)
	ec.Kick()
}

// flush writes until the queue is empty or the socket is full. ec.wmu is
// held. A socket that was full at the last writev and has had no EPOLLOUT
// since is not tried: a kick per push would cost a writev each for nothing.
func (ec *conn) flush() {
	if ec.closed || ec.fullAt.Load() == ec.outGen.Load()+1 {
		return
	}
	st := ec.c.Stats()
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	for {
		bufs := ec.c.Out.Peek(sc.bufs[:0], maxIOV)
		if len(bufs) == 0 {
			return
		}
		gen := ec.outGen.Load()
		n, err := poll.Writev(ec.sock(), sc.gather(bufs), &sc.iov)
		clear(bufs)
		st.Writes.Add(1)
		if n > 0 {
			st.BytesWritten.Add(int64(n))
			if _, closeNow := ec.c.Out.Advance(n); closeNow {
				ec.closeWritten()
				return
			}
		}
		if errors.Is(err, poll.ErrAgain) {
			ec.fullAt.Store(gen + 1) // until the next EPOLLOUT edge, which kicks again
			return
		}
		if err != nil {
			poll.Shutdown(ec.sock())
			return
		}
	}
}

// closeWritten ends the connection once its close frame is written. ec.wmu
// is held. The peer's close frame came already: shut both sides, the loop
// closes. Else linger: shut writing only, so FIN follows the close frame,
// and let the loop read on. A peer close that the loop handles meanwhile
// sees lingering and shuts both sides itself.
func (ec *conn) closeWritten() {
	if ec.state.Or(stLingering)&stPeerClosed != 0 {
		poll.Shutdown(ec.sock())
		return
	}
	poll.ShutdownWrite(ec.sock())
}

// Unacked implements core.Unacked: the sweep lingers on while the peer has
// not acknowledged what the socket sent.
func (ec *conn) Unacked() bool {
	ec.wmu.Lock()
	defer ec.wmu.Unlock()
	return !ec.closed && poll.Unacked(ec.sock())
}

// Abort implements core.Link: the loop sees the hang-up and closes.
func (ec *conn) Abort() {
	ec.wmu.Lock()
	defer ec.wmu.Unlock()
	if !ec.closed {
		poll.Shutdown(ec.sock())
	}
}
