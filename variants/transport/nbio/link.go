package nbio

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/gpush/gpush/core"
)

// The write side. nbio's Conn.Write never refuses bytes: what the socket
// does not take at once, nbio copies into a buffer of its own and flushes on
// EPOLLOUT. Handing nbio everything would move the backlog out of core's
// outbox, past its slow-consumer limit and its write-timeout sweep. So a
// link hands nbio a write only while nbio holds nothing of the previous one,
// and learns that nbio has drained from Engine.OnWrittenSize; the backlog
// stays in the outbox as slices of the shared frames.
//
// A write that fails must not let nbio close the socket: nbio's Conn.Write
// closes the descriptor on the writer's goroutine, outside the poller, and
// its poller may still hold an event for that descriptor number from its last
// epoll_wait. A connection upgraded meanwhile can be given the same number,
// and nbio then hands it the dead one's hang-up: it is closed before or
// just after its handshake. So a link writes to the socket itself, under
// nbc's lock (nbio marks a connection closed under that lock before it closes
// the descriptor), shuts the socket down when the write fails, and leaves
// the close to the poller; only what the socket does not take at once goes
// to nbc.Write, to be kept and flushed on EPOLLOUT.
//
// Whoever kicks writes (a pusher, a flusher, nbio's task pool), never
// blocking: one writer at a time (wmu), and a kick that finds the writer
// busy leaves the work to it: core.Kicker, as in the epoll transport. Lock
// order (wmu, then nbc's lock, then the outbox): docs/locking.md.

// link is the transport side of one connection.
type link struct {
	t   *Transport
	nbc *nbio.Conn
	fd  int // nbc's descriptor: used only under nbc's lock, while nbc is open
	c   *core.Conn

	live    atomic.Bool // the handshake response is out: frames may follow
	done    atomic.Bool // reading stopped: a close frame or a violation came
	writing atomic.Bool // a writer is inside nbc.Write
	parked  atomic.Bool // nbio holds unwritten bytes; its drain kicks again

	handed  atomic.Int64 // bytes handed to nbc.Write, added under wmu
	written atomic.Int64 // bytes nbio wrote to the socket

	wmu    core.Kicker // one writer at a time; guards finish
	finish bool        // close the socket once nbio has written what it holds

	masks maskCheck // owned by onData
}

// start lets output follow the handshake response.
func (l *link) start() {
	l.live.Store(true)
	l.Kick()
}

// Kick implements core.Link: the caller writes what is queued, unless
// another goroutine is writing, which then writes it too.
func (l *link) Kick() { l.wmu.Kick(l.flush) }

// Abort implements core.Link.
func (l *link) Abort() { l.shut() }

// shut ends the connection from any goroutine without closing its
// descriptor: shutdown(2) makes nbio's poller see the hang-up and close the
// socket itself (see the top of this file for why never from outside).
func (l *link) shut() {
	l.nbc.Lock()
	defer l.nbc.Unlock()
	l.shutLocked()
}

// shutLocked is shut with nbc's lock held.
func (l *link) shutLocked() {
	if closed, _ := l.nbc.IsClosed(); !closed {
		_ = syscall.Shutdown(l.fd, syscall.SHUT_RDWR)
	}
}

// fdOf returns nbc's descriptor.
func fdOf(nbc *nbio.Conn) int {
	fd := -1
	if rc, err := nbc.SyscallConn(); err == nil {
		_ = rc.Control(func(d uintptr) { fd = int(d) })
	}
	return fd
}

// closeAfterFlush closes the socket once nbio has written what it holds,
// and writes nothing more.
func (l *link) closeAfterFlush() {
	l.wmu.Lock()
	l.finish = true
	l.wmu.Unlock()
	l.Kick()
}

// flush writes queued frames until the outbox is empty or nbio holds bytes
// the socket has not taken. l.wmu is held.
func (l *link) flush() {
	if !l.live.Load() {
		return
	}
	arr := bufsPool.Get().(*[1024][]byte) // join copies at most joinMax of them
	defer bufsPool.Put(arr)
	for l.drained() {
		if l.finish {
			l.shut()
			return
		}
		bufs := l.c.Out.Peek(arr[:0], len(arr))
		if len(bufs) == 0 {
			return
		}
		b, pooled := join(bufs)
		err := l.write(b)
		clear(bufs)
		if pooled != nil {
			joinPool.Put(pooled)
		}
		if err != nil {
			return // nbio closed the socket
		}
		if _, closeNow := l.c.Out.Advance(len(b)); closeNow {
			l.finish = true
		}
	}
}

// write writes b to the socket, and hands nbio what the socket does not
// take at once; nbio keeps that and flushes it on EPOLLOUT.
func (l *link) write(b []byte) error {
	st := l.t.hub.Stats()
	st.Writes.Add(1)
	l.handed.Add(int64(len(b)))
	n, err := l.writeSocket(b)
	if n > 0 {
		st.BytesWritten.Add(int64(n))
		l.written.Add(int64(n))
	}
	if err != nil || n == len(b) {
		return err
	}
	// The socket is full. nbio tries once more before it keeps the rest: a
	// peer gone in between is the one case left where nbio closes the socket
	// on this goroutine.
	l.writing.Store(true)
	_, err = l.nbc.Write(b[n:])
	l.writing.Store(false)
	return err
}

// writeSocket is one write(2) of b under nbc's lock. A failure other than a
// full socket shuts the socket down and is returned.
func (l *link) writeSocket(b []byte) (int, error) {
	l.nbc.Lock()
	defer l.nbc.Unlock()
	if closed, _ := l.nbc.IsClosed(); closed {
		return 0, net.ErrClosed
	}
	for {
		n, err := syscall.Write(l.fd, b)
		switch err {
		case nil:
			return n, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, nil
		}
		l.shutLocked()
		return 0, err
	}
}

// drained reports whether nbio has written every byte handed to it. When it
// has not, the link parks: onWritten kicks it when nbio is done.
func (l *link) drained() bool {
	if l.written.Load() >= l.handed.Load() {
		return true
	}
	l.parked.Store(true)
	if l.written.Load() < l.handed.Load() {
		return false
	}
	return l.parked.CompareAndSwap(true, false) // else onWritten took it and kicks
}

// onWritten is nbio's report of n bytes written to the socket of nbc, from
// inside nbc.Write or from the poller's flush, with nbc's lock held: it
// must not call nbc, so a parked link is kicked from nbio's task pool.
func (t *Transport) onWritten(nbc *nbio.Conn, _ []byte, n int) {
	wsc, _ := nbc.Session().(*websocket.Conn)
	if wsc == nil {
		return
	}
	l := linkOf(wsc)
	if l == nil || !l.live.Load() {
		return // the handshake response
	}
	st := t.hub.Stats()
	st.BytesWritten.Add(int64(n))
	if !l.writing.Load() {
		st.Writes.Add(1) // nbio flushing what it held
	}
	if l.written.Add(int64(n)) >= l.handed.Load() && l.parked.CompareAndSwap(true, false) {
		t.engine.Execute(l.Kick)
	}
}

// joinMax bounds the bytes a coalesced write copies.
const joinMax = 64 << 10

var bufsPool = sync.Pool{New: func() any { return new([1024][]byte) }}

var joinPool = sync.Pool{New: func() any { b := make([]byte, 0, joinMax); return &b }}

// join returns bufs as one slice for one Write: the head frame itself when
// it is alone or big, else a pooled copy of as many whole frames as fit
// (nbio's Writev is not used: v1.6.8 drops the slices after a partial
// writev). pooled, when not nil, goes back to joinPool after the write.
func join(bufs [][]byte) (b []byte, pooled *[]byte) {
	if len(bufs) == 1 || len(bufs[0]) >= joinMax/2 {
		return bufs[0], nil
	}
	pooled = joinPool.Get().(*[]byte)
	b = (*pooled)[:0]
	for _, f := range bufs {
		if len(b)+len(f) > joinMax {
			break
		}
		b = append(b, f...)
	}
	*pooled = b[:0]
	return b, pooled
}
