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

// maxInbox bounds the requests one connection may have waiting while a
// login of its runs: past it the connection is closed with 1008.
const maxInbox = 64

// conn is one connection of a loop: a raw descriptor, the parser's state and
// the core connection. Idle, it holds no buffer and no goroutine.
type conn struct {
	fd int
	l  *loop
	c  *core.Conn

	// Owned by the loop goroutine (and by Upgrade before the loop knows fd).
	p    wsframe.Parser
	done bool // reading stopped: a close frame or a protocol error came
	gone bool // closed and forgotten

	closed bool        // fd is closed: write nothing; guarded by wmu
	wmu    core.Kicker // one writer at a time; guards closed, and c while attach sets it (docs/locking.md)

	// side is set while a goroutine of its own handles this connection's
	// requests (a login and what follows it): only then does a connection
	// pay for a queue. Set and appended to by the loop only.
	side atomic.Pointer[sideQueue]
}

// sideQueue holds the requests that wait for a connection's own goroutine.
type sideQueue struct {
	mu   sync.Mutex
	msgs [][]byte // in order
	done bool     // the goroutine has finished: the loop handles requests again
}

func (ec *conn) parserConfig() wsframe.Config {
	return wsframe.Config{MaxMessage: ec.l.t.hub.Limits().MaxFrame}
}

var errStop = errors.New("stop reading")

// feed parses bytes from the socket; it runs on the loop.
func (ec *conn) feed(b []byte) {
	err := ec.p.Feed(b, ec.onFrame)
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
func (ec *conn) onFrame(op ws.OpCode, payload []byte) error {
	switch op {
	case ws.OpText:
		return ec.dispatch(payload)
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
		ec.c.EchoClose(int(code))
		return errStop
	}
	return nil
}

// dispatch handles a request on the loop when it cannot block; a login,
// which may wait for an auth service, and everything the connection sends
// after it until it is done, go to a goroutine of their own, so a slow
// auth service delays only the connection that logs in.
func (ec *conn) dispatch(msg []byte) error {
	if q := ec.side.Load(); q != nil {
		q.mu.Lock()
		if !q.done {
			if len(q.msgs) >= maxInbox {
				q.mu.Unlock()
				ec.c.CloseWith(core.ClosePolicy, "too many requests pending")
				return errStop
			}
			q.msgs = append(q.msgs, append([]byte(nil), msg...))
			q.mu.Unlock()
			return nil
		}
		q.mu.Unlock()
	}
	req, ok := ec.c.Parse(msg) // decoded once, on the loop
	if !ok {
		return nil
	}
	if !ec.c.MayBlock(req) {
		ec.c.Apply(ec.l.t.ctx, req)
		return nil
	}
	q := &sideQueue{}
	ec.side.Store(q)
	go ec.work(q, req)
	return nil
}

// work applies first (a login) and then handles whatever queued behind it,
// in order; when nothing is left it marks q done and lets the loop handle
// requests again. Core recovers a panic in a request (close 1011).
func (ec *conn) work(q *sideQueue, first core.Request) {
	ec.c.Apply(ec.l.t.ctx, first)
	for {
		q.mu.Lock()
		if len(q.msgs) == 0 {
			q.done = true
			ec.side.CompareAndSwap(q, nil)
			q.mu.Unlock()
			return
		}
		msg := q.msgs[0]
		q.msgs[0] = nil
		q.msgs = q.msgs[1:]
		q.mu.Unlock()
		ec.c.Handle(ec.l.t.ctx, msg)
	}
}

var iovPool = sync.Pool{New: func() any { return new(poll.IOV) }}

// Kick implements core.Link: the caller writes what is queued, unless
// another goroutine is writing, which then writes it too.
func (ec *conn) Kick() { ec.wmu.Kick(ec.flush) }

// flush writes until the queue is empty or the socket is full. ec.wmu is
// held.
func (ec *conn) flush() {
	if ec.closed {
		return
	}
	st := ec.l.t.hub.Stats()
	iov := iovPool.Get().(*poll.IOV)
	defer iovPool.Put(iov)
	var arr [64][]byte
	for {
		bufs := ec.c.Out.Peek(arr[:0], len(arr))
		if len(bufs) == 0 {
			return
		}
		n, err := poll.Writev(ec.fd, bufs, iov)
		clear(bufs)
		st.Writes.Add(1)
		if n > 0 {
			st.BytesWritten.Add(int64(n))
			if _, closeNow := ec.c.Out.Advance(n); closeNow {
				poll.Shutdown(ec.fd)
				return
			}
		}
		if errors.Is(err, poll.ErrAgain) {
			return // the EPOLLOUT edge kicks again
		}
		if err != nil {
			poll.Shutdown(ec.fd)
			return
		}
	}
}

// Abort implements core.Link: the loop sees the hang-up and closes.
func (ec *conn) Abort() {
	ec.wmu.Lock()
	defer ec.wmu.Unlock()
	if !ec.closed {
		poll.Shutdown(ec.fd)
	}
}
