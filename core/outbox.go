package core

import (
	"errors"
	"math"
	"sync"
	"time"
)

// Errors of the output queue.
var (
	// ErrSlowConsumer: the bytes queued for a connection would pass its
	// limit; the connection is being closed with 1008.
	ErrSlowConsumer = errors.New("slow consumer")
	// ErrClosing: the connection queues nothing more.
	ErrClosing = errors.New("connection closing")
)

// Outbox states.
const (
	outOpen    uint8 = iota // accepting frames
	outClosing              // a close frame is the last queued frame; nothing more is accepted
	outClosed               // the close frame was written, or the socket is gone
)

// Outbox is one connection's queue of frame bytes that its socket has not
// accepted yet. Frames are shared by every recipient and never modified: the
// queue holds slices of them, not copies. An idle outbox holds no buffer:
// its list of frames comes from a pool when the first frame is queued and
// goes back when the last is written, so a busy connection does not grow a
// new slice for every batch either.
//
// Any goroutine may Push; one writer at a time (the transport's) calls Peek
// and Advance.
type Outbox struct {
	mu     sync.Mutex // guards the fields of this group; a leaf lock (docs/locking.md)
	q      *frameList // pending frames, nil when none; q.pending()[0][off:] is next
	off    int32      // bytes of the head frame already written (a frame is < 2 GiB)
	peeked uint16     // head frames handed to the writer by the last Peek
	state  uint8
	queued int   // bytes pending: the slow-consumer figure
	since  int64 // unix ns of the last progress while bytes were pending
	born   int64 // unix ns when the queue last went from empty to pending

	// Set by Hub.Open before the connection is registered, then read-only.
	coalesce bool   // a write may carry several frames (Policy.Coalesce)
	stats    *Stats // where writes are observed; nil in tests
}

// push appends frame. pending is the number of bytes queued afterwards.
// When the frame would take the queue past limit, push queues nothing,
// replaces what is pending (but a partly written frame) with close 1008
// `slow consumer` and returns ErrSlowConsumer.
func (o *Outbox) push(frame []byte, limit int) (pending int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pushLocked(frame, limit)
}

// pushLocked is push with o.mu held.
func (o *Outbox) pushLocked(frame []byte, limit int) (pending int, err error) {
	if o.state != outOpen {
		return o.queued, ErrClosing
	}
	if limit > 0 && o.queued+len(frame) > limit {
		o.dropPending()
		o.appendLocked(closeSlowConsumer)
		o.state = outClosing
		return o.queued, ErrSlowConsumer
	}
	o.appendLocked(frame)
	return o.queued, nil
}

var closeSlowConsumer = CloseFrame(ClosePolicy, "slow consumer")

// pushGroup appends frames together when they fit under limit beside what
// is queued, and reports whether it did; else it queues nothing (a
// recovery's reply and replay: too large a replay is refused, not a slow
// consumer).
func (o *Outbox) pushGroup(frames [][]byte, limit int) bool {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state != outOpen || (limit > 0 && o.queued+n > limit) {
		return false
	}
	for _, f := range frames {
		o.appendLocked(f)
	}
	return true
}

// frameList is an outbox's pooled storage: s[head:] are the pending frames,
// s[:head] written ones already cleared.
type frameList struct {
	s    [][]byte
	head int
}

// maxPooledFrames bounds the capacity of a list that goes back to the pool:
// a connection that once held a huge backlog does not pin it for others.
const maxPooledFrames = 1024

var framePool = sync.Pool{New: func() any { return &frameList{s: make([][]byte, 0, 16)} }}

// pending returns the pending frames; q may be nil.
func (q *frameList) pending() [][]byte {
	if q == nil {
		return nil
	}
	return q.s[q.head:]
}

// push appends frame, first moving the pending frames to the front when the
// written ones take room that append would otherwise copy along.
func (q *frameList) push(frame []byte) {
	if len(q.s) == cap(q.s) && q.head > 0 {
		n := copy(q.s, q.s[q.head:])
		clear(q.s[n:])
		q.s, q.head = q.s[:n], 0
	}
	q.s = append(q.s, frame)
}

// releaseList gives the frame list back to the pool. o.mu is held.
func (o *Outbox) releaseList() {
	q := o.q
	if q == nil {
		return
	}
	o.q = nil
	clear(q.s)
	if cap(q.s) > maxPooledFrames {
		return
	}
	q.s, q.head = q.s[:0], 0
	framePool.Put(q)
}

// closeWith queues frame, a close frame, as the last frame. It reports
// false when the outbox was not open.
func (o *Outbox) closeWith(frame []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state != outOpen {
		return false
	}
	o.appendLocked(frame)
	o.state = outClosing
	return true
}

// dropPending forgets every queued frame but a partly written head, whose
// rest must still go out to keep the stream framed. o.mu is held.
//
// Frames handed to the writer by the last Peek are kept too: a blocking
// writer may be in the middle of writing them, and dropping them would let
// Advance count the close frame as written when it was not.
func (o *Outbox) dropPending() {
	frames := o.q.pending()
	keep := min(int(o.peeked), len(frames))
	if o.off > 0 && len(frames) > 0 {
		keep = max(keep, 1)
	}
	clear(frames[keep:])
	o.queued = -int(o.off)
	for _, f := range frames[:keep] {
		o.queued += len(f)
	}
	if o.q != nil {
		o.q.s = o.q.s[:o.q.head+keep]
	}
}

func (o *Outbox) appendLocked(frame []byte) {
	if o.queued == 0 {
		o.since = time.Now().UnixNano()
		o.born = o.since
	}
	if o.q == nil {
		o.q = framePool.Get().(*frameList)
	}
	o.q.push(frame)
	o.queued += len(frame)
}

// Peek appends to dst the pending bytes, as slices of the shared frames:
// at most max slices, or only the head frame when the write policy does not
// coalesce. It returns dst unchanged when nothing is pending.
func (o *Outbox) Peek(dst [][]byte, max int) [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	frames := o.q.pending()
	if len(frames) == 0 {
		return dst
	}
	n := len(dst)
	dst = append(dst, frames[0][o.off:])
	if o.coalesce {
		for _, f := range frames[1:] {
			if len(dst) >= max {
				break
			}
			dst = append(dst, f)
		}
	}
	o.peeked = uint16(min(len(dst)-n, math.MaxUint16))
	return dst
}

// Advance records that the socket accepted n bytes from the head of the
// queue. empty says whether nothing is pending now; closeNow says the close
// frame is out and the transport must close the socket.
func (o *Outbox) Advance(n int) (empty, closeNow bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	wrote := n > 0
	if wrote {
		o.since = time.Now().UnixNano()
	}
	o.peeked = 0
	o.queued -= n
	if done := o.dropWritten(n); o.stats != nil && done > 0 {
		o.stats.Batch.observePow2(BatchBounds, int64(done))
	}
	if len(o.q.pending()) > 0 {
		return false, false
	}
	if o.stats != nil && wrote {
		o.stats.Latency.observe(LatencyBounds, o.since-o.born)
	}
	o.releaseList() // an idle connection holds no queue
	o.queued = 0
	closeNow = o.state == outClosing
	if closeNow {
		o.state = outClosed
	}
	return true, closeNow
}

// dropWritten forgets the n bytes written from the head of the queue and
// returns how many frames they completed. o.mu is held.
func (o *Outbox) dropWritten(n int) (done int) {
	for q := o.q; n > 0 && q != nil && q.head < len(q.s); done++ {
		rest := len(q.s[q.head]) - int(o.off)
		if n < rest {
			o.off += int32(n)
			break
		}
		n -= rest
		q.s[q.head] = nil
		q.head++
		o.off = 0
	}
	return done
}

// Pending returns the bytes queued.
func (o *Outbox) Pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.queued
}

// stalledSince returns when the socket last accepted bytes while some were
// pending, or 0 when nothing is pending.
func (o *Outbox) stalledSince() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.queued == 0 && o.state != outClosing {
		return 0
	}
	return o.since
}

// markClosed stops the outbox for good and drops what it holds.
func (o *Outbox) markClosed() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.state = outClosed
	o.releaseList()
	o.off, o.queued, o.peeked = 0, 0, 0
}

// Closing reports whether a close frame is queued or written.
func (o *Outbox) Closing() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.state != outOpen
}
