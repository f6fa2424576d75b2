package epoll

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/variants/transport/epoll/poll"
)

const (
	readBufSize  = 64 << 10 // one per loop, shared by its connections
	readsPerTurn = 4        // reads of one connection before the loop serves others
)

// loop is one event loop: it owns the reading side of its connections.
type loop struct {
	t   *Transport
	p   *poll.Poller
	buf []byte // the read buffer, used by the loop goroutine only

	// parser parses for every connection of the loop, on the loop
	// goroutine: a connection keeps only its state while a frame or
	// message is partial (conn.pk), so an idle one holds no parser.
	parser wsframe.Parser
	cfg    wsframe.Config // parser's, set once; attach configures its own Parser with it

	mu sync.Mutex // guards conns, shakes, closed, and each conn's gone as close checks and sets it
	// conns is indexed by fd / len(t.loops): a loop holds the descriptors
	// with fd % len(t.loops) == its index (Upgrade), and descriptors are
	// small dense ints, so the table is dense: 8 bytes and no hashing per
	// connection. An event's key (connKey) also carries the connection's
	// ID, which fd reuse cannot confuse.
	conns []*conn

	again []*conn // connections with more to read than one turn took

	// The handshakes in progress (handshake.go), by descriptor; closed is
	// set once the loop has exited, and refuses new ones.
	shakes  map[int32]*handshake
	nshakes atomic.Int32 // len(shakes), read without l.mu by the loop deciding how long to wait
	closed  bool

	// The upgrade of a whole request, on the loop goroutine only: up checks
	// it, reading rw; origin, admitted and verdict are what its callbacks
	// learnt (verdict: the core.Handshake* reason of a refusal, "" for the
	// gate's own).
	up         ws.Upgrader
	rw         memRW
	origin     string
	admitted   bool
	verdict    string
	sweepEvery time.Duration // how often handshakes are checked for their deadline
	nextSweep  time.Time
}

func newLoop(t *Transport) (*loop, error) {
	p, err := poll.New(256)
	if err != nil {
		return nil, err
	}
	l := &loop{t: t, p: p, buf: make([]byte, readBufSize), cfg: t.parserConfig(), shakes: map[int32]*handshake{}}
	l.parser.Reset(l.cfg)
	return l, nil
}

// slot is ec's index in conns.
func (l *loop) slot(ec *conn) int { return int(ec.fd) / len(l.t.loops) }

// connKey is ec's epoll key: the descriptor in the low 32 bits, the low 32
// bits of the connection's ID in the high ones.
func connKey(ec *conn) uint64 { return uint64(uint32(ec.fd)) | ec.c.ID()<<32 }

// put enters ec in conns, growing the table as needed. l.mu is held.
func (l *loop) put(ec *conn) {
	i := l.slot(ec)
	if i >= len(l.conns) {
		l.conns = slices.Grow(l.conns, i+1-len(l.conns))[:i+1]
	}
	l.conns[i] = ec
}

// lookup returns the connection of an event's key, or nil when it is
// closed. l.mu is held.
func (l *loop) lookup(key uint64) *conn {
	i := int(int32(uint32(key))) / len(l.t.loops)
	if i >= len(l.conns) {
		return nil
	}
	if ec := l.conns[i]; ec != nil && connKey(ec) == key {
		return ec
	}
	return nil
}

// attach makes fd, upgraded, a connection of this loop, with early the
// bytes the client sent after its request, parsed at once. It runs on the
// loop goroutine; the caller has epoll report fd under connKey.
func (l *loop) attach(fd int32, early []byte) *conn {
	ec := &conn{fd: fd}
	// Hub.Open registers the connection before it returns, and a push may
	// Kick it at once: ec.c must be set before any writer reads it. Writers
	// run under wmu only, so holding wmu defers them, and the Kick after
	// writes what they queued meanwhile.
	ec.wmu.Lock()
	ec.c = l.t.hub.Open(ec)
	ec.wmu.Unlock()
	ec.Kick()
	l.mu.Lock()
	l.put(ec)
	l.mu.Unlock()
	if len(early) > 0 {
		ec.feed(l.t, &l.parser, early)
	}
	return ec
}

func (l *loop) run() {
	var events []poll.Event
	var batch []*conn
	for {
		var err error
		events, _, err = l.p.Wait(events[:0], l.waitMsec())
		if l.t.ctx.Err() != nil {
			l.closeAll()
			return
		}
		if err != nil {
			slog.Error("epoll wait failed", "err", err)
			continue
		}
		batch = l.serve(events, batch[:0])
		l.serveAgain()
		l.sweep()
	}
}

// serve handles one wait's events; batch is scratch space for their
// connections, returned for the next turn.
func (l *loop) serve(events []poll.Event, batch []*conn) []*conn {
	l.mu.Lock()
	for _, ev := range events {
		batch = append(batch, l.lookup(ev.Key)) // nil: closed meanwhile
	}
	l.mu.Unlock()
	for i, ev := range events {
		ec := batch[i]
		if ec == nil {
			if ev.Key&hsTag != 0 && (ev.In || ev.Hup) {
				l.shake(ev.Key)
			}
			continue
		}
		if ev.Out {
			ec.outReady()
		}
		if ev.In || ev.Hup {
			l.read(ec, ev.Hup)
		}
		batch[i] = nil
	}
	return batch
}

// serveAgain gives the connections that had more to read another turn.
func (l *loop) serveAgain() {
	again := l.again
	l.again = nil
	for i, ec := range again {
		l.read(ec, true)
		again[i] = nil
	}
}

// read reads what fd has, up to a few buffers a turn, and feeds the parser.
// A read that fills less than the buffer has emptied the socket (epoll(7):
// a short read on a stream socket exhausts it), so the loop waits for the
// next edge instead of paying a read(2) for EAGAIN: half the read calls of a
// client that sends a little at a time. Unless the event reported a hang-up
// (untilEOF): data and the peer's FIN may come in one edge, and the end is
// only seen by reading on.
func (l *loop) read(ec *conn, untilEOF bool) {
	if ec.gone { // without l.mu: of a conn with events only the loop sets it
		return
	}
	ec.c.Hold() // the replies to what this turn reads leave in one kick
	defer ec.c.Release()
	for range readsPerTurn {
		n, err := poll.Read(ec.sock(), l.buf)
		if n > 0 && !ec.done {
			ec.feed(l.t, &l.parser, l.buf[:n]) // activity is a complete frame, not a byte: core touches per frame
		} else if n > 0 && ec.lingering() {
			ec.Abort() // parsing stopped at a violation: what follows our close frame (its answer) ends the linger
		}
		switch {
		case errors.Is(err, poll.ErrAgain):
			return
		case err == nil && n > 0 && n < len(l.buf) && !untilEOF:
			return // drained
		case err != nil || n == 0: // error, or the peer closed
			l.close(ec)
			return
		}
	}
	l.again = append(l.again, ec)
}

// close forgets the connection, closes the socket and tells the hub, once
// whoever calls it. Only the loop closes descriptors that epoll watches, so
// no other goroutine can touch a reused fd; attach closes one that epoll
// refused, which the loop's closeAll may close at the same time.
func (l *loop) close(ec *conn) {
	if !l.forget(ec) {
		return
	}
	ec.wmu.Lock()
	ec.closed = true
	poll.Close(ec.sock())
	ec.wmu.Unlock()
	ec.pk.Release() // a partial frame's Parser and buffer go back to their pools
	l.t.hub.Closed(ec.c)
}

// forget marks ec gone and takes it out of conns, and reports whether this
// call did: of two closers, one wins.
func (l *loop) forget(ec *conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ec.gone {
		return false
	}
	ec.gone = true
	if i := l.slot(ec); l.conns[i] == ec {
		l.conns[i] = nil
	}
	return true
}

// closeAll closes every connection and handshake of the loop, and makes
// it refuse new ones: it has exited.
func (l *loop) closeAll() {
	l.mu.Lock()
	l.closed = true
	var all []*conn
	for _, ec := range l.conns {
		if ec != nil {
			all = append(all, ec)
		}
	}
	var shakes []*handshake
	for _, h := range l.shakes {
		shakes = append(shakes, h)
	}
	l.mu.Unlock()
	for _, ec := range all {
		l.close(ec)
	}
	for _, h := range shakes {
		l.drop(h)
	}
}
