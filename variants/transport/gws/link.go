package gws

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/lxzan/gws"

	"github.com/gpush/gpush/core"
)

// The write side. Kick queues one write job on the connection's gws write
// queue (concurrency 1: jobs of one connection run one at a time, in order,
// on a goroutine gws starts while it has jobs); the job writes the outbox
// with blocking writes to the socket. A kick while a job is queued adds
// nothing: the job clears the flag before it peeks, so it sees every frame
// queued before the kick. A socket that accepts nothing stalls the job
// until the hub's sweep aborts it (write timeout), which unblocks the write.

// link is the transport side of one connection.
type link struct {
	t  *Transport
	ws *gws.Conn
	nc net.Conn
	c  *core.Conn

	ready  atomic.Bool // c is set: the hub may kick as soon as Open registers c
	queued atomic.Bool // a write job is queued and has not peeked yet
	once   sync.Once   // closes nc

	done bool // owned by the read loop: a binary frame came, ignore the rest
}

// start lets kicks through once c is set, and writes what was queued
// before.
func (l *link) start(c *core.Conn) {
	l.c = c
	l.ready.Store(true)
	if c.Out.Pending() > 0 {
		l.Kick()
	}
}

// Kick implements core.Link.
func (l *link) Kick() {
	if !l.ready.Load() || l.queued.Swap(true) {
		return
	}
	l.t.wg.Add(1)
	l.ws.Async(l.flush)
}

// Abort implements core.Link: the read loop sees the socket closed and
// reports it.
func (l *link) Abort() { l.once.Do(func() { l.nc.Close() }) }

var bufsPool = sync.Pool{New: func() any { return new([1024][]byte) }}

// flush is a write job: it writes until the outbox is empty.
func (l *link) flush() {
	defer l.t.wg.Done()
	l.queued.Store(false)
	arr := bufsPool.Get().(*[1024][]byte)
	defer bufsPool.Put(arr)
	st := l.t.hub.Stats()
	for {
		bufs := l.c.Out.Peek(arr[:0], len(arr))
		if len(bufs) == 0 {
			return
		}
		n, err := l.write(bufs)
		clear(bufs)
		st.Writes.Add(1)
		st.BytesWritten.Add(n)
		_, closeNow := l.c.Out.Advance(int(n))
		if err != nil {
			l.Abort()
			return
		}
		if closeNow {
			l.linger()
			return
		}
	}
}

// write writes bufs in one write (writev for several) and returns the bytes
// the socket took.
func (l *link) write(bufs [][]byte) (int64, error) {
	if len(bufs) == 1 {
		n, err := l.nc.Write(bufs[0])
		return int64(n), err
	}
	nb := net.Buffers(bufs)
	return nb.WriteTo(l.nc)
}

// linger ends the connection once its close frame is out: FIN, then the
// read loop drains what the client still sends until it closes, or the
// hub's sweep aborts it after Limits.CloseLinger, as for every transport.
// Closing at once with the client's bytes unread sends a reset, which can
// destroy the close frame before the client reads it.
func (l *link) linger() {
	cw, ok := l.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		l.Abort()
	}
}
