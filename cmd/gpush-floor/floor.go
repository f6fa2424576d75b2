package main

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/variants/transport/epoll/poll"
)

// maxFD bounds the descriptors the floor serves: the table of connections
// is indexed by descriptor.
const maxFD = 1 << 16

// reply is the canned answer to every request frame: status 0, as the
// harness's subscribers expect.
var reply = wsframe.AppendFrame(nil, ws.OpText, true, []byte(`{"status":0}`))

// conn is one upgraded socket. The poller's goroutine owns the read state;
// the shard's lock guards pending and dirty; the shard's flusher owns out.
type conn struct {
	fd      int
	shard   *shard
	index   int // in shard.subs, -1 until subscribed
	pending []byte
	dirty   bool
	out     []byte
	hdr     [14]byte // a frame header being read
	hn      int
	skip    uint64 // payload bytes of the current frame still to skip
	op      byte
}

// shard is a share of the connections with its own lock and flusher.
type shard struct {
	mu    sync.Mutex
	subs  []*conn
	dirty []*conn
	dead  []*conn
	wake  chan struct{}
	spare []*conn
}

// floor is the whole server.
type floor struct {
	poller *poll.Poller
	conns  [maxFD]atomic.Pointer[conn]
	shards []*shard
	count  atomic.Int64
}

func newFloor(interval time.Duration) (*floor, error) {
	p, err := poll.New(256)
	if err != nil {
		return nil, err
	}
	f := &floor{poller: p}
	for range runtime.GOMAXPROCS(0) {
		s := &shard{wake: make(chan struct{}, 1)}
		f.shards = append(f.shards, s)
		go s.flushLoop(interval)
	}
	go f.loop()
	return f, nil
}

// acceptors is how many goroutines accept and upgrade: a few, not one
// per connection, so that no goroutine stack is left over per connection.
const acceptors = 4

// accept upgrades each connection and hands its descriptor to the poller.
func (f *floor) accept(l net.Listener) {
	for range acceptors {
		go func() {
			for {
				nc, err := l.Accept()
				if err != nil {
					return
				}
				f.upgrade(nc)
			}
		}()
	}
}

func (f *floor) upgrade(nc net.Conn) {
	defer nc.Close()
	if _, err := ws.Upgrade(nc); err != nil {
		return
	}
	fd, err := poll.Detach(nc.(syscall.Conn))
	if err != nil || fd >= maxFD {
		if err == nil {
			poll.Close(fd)
		}
		return
	}
	c := &conn{fd: fd, shard: f.shards[fd%len(f.shards)], index: -1}
	f.conns[fd].Store(c)
	f.count.Add(1)
	if err := f.poller.Add(fd, uint64(fd)); err != nil {
		f.drop(c)
	}
}

// loop is the poller's goroutine: it reads requests and notices hang-ups
// and sockets writable again.
func (f *floor) loop() {
	buf := make([]byte, 64<<10)
	var evs []poll.Event
	for {
		var err error
		evs, _, err = f.poller.Wait(evs[:0], -1)
		if err != nil {
			return
		}
		for _, ev := range evs {
			c := f.conns[ev.Key].Load()
			if c == nil {
				continue
			}
			f.event(c, ev, buf)
		}
	}
}

// event handles one readiness report of c.
func (f *floor) event(c *conn, ev poll.Event, buf []byte) {
	if ev.In || ev.Hup {
		if !f.read(c, buf) {
			f.drop(c)
			return
		}
	}
	if ev.Out {
		c.shard.mark(c)
	}
}

// read drains c's socket, answers each complete request frame and
// subscribes c on its first; false when the peer is gone.
func (f *floor) read(c *conn, buf []byte) bool {
	for {
		n, err := poll.Read(c.fd, buf)
		if errors.Is(err, poll.ErrAgain) {
			return true
		}
		if err != nil || n == 0 {
			return false
		}
		if reqs := c.scan(buf[:n]); reqs > 0 {
			c.shard.answer(c, reqs)
		}
	}
}

// scan walks frame headers through b, skipping payloads, and returns the
// data frames that ended in b.
func (c *conn) scan(b []byte) int {
	frames := 0
	for len(b) > 0 {
		if c.skip > 0 {
			n := min(c.skip, uint64(len(b)))
			c.skip -= n
			b = b[n:]
			if c.skip == 0 && c.data() {
				frames++
			}
			continue
		}
		c.hdr[c.hn] = b[0]
		c.hn++
		b = b[1:]
		if c.hn < 2 || c.hn < wsframe.HeaderLen(c.hdr[1]) {
			continue
		}
		c.op, c.skip, c.hn = c.hdr[0]&0x0F, wsframe.PayloadLen(c.hdr[:c.hn]), 0
		if c.skip == 0 && c.data() {
			frames++
		}
	}
	return frames
}

// data reports whether the frame being read is a text or binary frame.
func (c *conn) data() bool { return c.op == byte(ws.OpText) || c.op == byte(ws.OpBinary) }

// drop forgets c; its shard's flusher closes the descriptor, so that no
// write can reach a descriptor number reused by a new connection.
func (f *floor) drop(c *conn) {
	if f.conns[c.fd].CompareAndSwap(c, nil) {
		f.count.Add(-1)
		c.shard.remove(c)
	}
}

// answer queues n canned replies to c and subscribes it.
func (s *shard) answer(c *conn, n int) {
	s.mu.Lock()
	for range n {
		c.pending = append(c.pending, reply...)
	}
	if c.index < 0 {
		c.index = len(s.subs)
		s.subs = append(s.subs, c)
	}
	s.markLocked(c)
	s.mu.Unlock()
	s.signal()
}

// mark queues c for the next flush (its socket is writable again).
func (s *shard) mark(c *conn) {
	s.mu.Lock()
	s.markLocked(c)
	s.mu.Unlock()
	s.signal()
}

func (s *shard) markLocked(c *conn) {
	if !c.dirty {
		c.dirty = true
		s.dirty = append(s.dirty, c)
	}
}

func (s *shard) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// remove takes c out of the subscribers and leaves its descriptor for
// the flusher to close.
func (s *shard) remove(c *conn) {
	s.mu.Lock()
	if c.index >= 0 {
		last := s.subs[len(s.subs)-1]
		s.subs[c.index], last.index = last, c.index
		s.subs = s.subs[:len(s.subs)-1]
		c.index = -1
	}
	c.pending = nil
	s.dead = append(s.dead, c)
	s.mu.Unlock()
	s.signal()
}

// push appends one encoded frame (or several, coalesced) to every
// subscriber of every shard.
func (f *floor) push(frames []byte) {
	for _, s := range f.shards {
		s.mu.Lock()
		for _, c := range s.subs {
			c.pending = append(c.pending, frames...)
			s.markLocked(c)
		}
		s.mu.Unlock()
		s.signal()
	}
}

// flushLoop writes every dirty connection's bytes, one write each: every
// interval, or (interval 0) each time it is woken.
func (s *shard) flushLoop(interval time.Duration) {
	if interval <= 0 {
		for range s.wake {
			s.flush()
		}
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for range t.C {
		s.flush()
	}
}

func (s *shard) flush() {
	s.mu.Lock()
	list, dead := s.dirty, s.dead
	s.dirty, s.dead = s.spare[:0], nil
	for _, c := range list {
		c.dirty = false
		if len(c.out) == 0 {
			c.out, c.pending = c.pending, c.out[:0]
		} else {
			c.out = append(c.out, c.pending...)
			c.pending = c.pending[:0]
		}
	}
	s.mu.Unlock()
	for _, c := range dead {
		poll.Close(c.fd)
		c.fd = -1
	}
	for _, c := range list {
		c.write()
	}
	clear(list)
	s.spare = list[:0]
}

// write sends c's bytes with one write; what the socket did not take
// waits for its next writable edge.
func (c *conn) write() {
	if c.fd < 0 || len(c.out) == 0 {
		return
	}
	n, err := poll.Writev(c.fd, [][]byte{c.out}, nil)
	if err != nil && !errors.Is(err, poll.ErrAgain) {
		c.out = c.out[:0]
		return
	}
	c.out = c.out[:copy(c.out, c.out[n:])]
}
