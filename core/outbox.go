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
// Replies are the exception: they belong to this connection alone, so
// replies queued one after another, before the writer takes them, are
// copied into one buffer of the outbox's own (up to mergeMax), and a pong
// control frame replaces a pong still waiting at the end of the queue (RFC
// 6455 5.5.3: a pong may answer only the latest ping). A thousand replies
// to one read then leave in a few writes, whatever the write policy.
//
// The limit counts memory, not just frame bytes: each pending frame costs
// its capacity plus slotCost for its place in the list, so a stream of tiny
// frames cannot hold many times the limit in bookkeeping.
//
// Any goroutine may Push; one writer at a time (the transport's) calls Peek
// and Advance.
type Outbox struct {
	mu     sync.Mutex // guards the fields of this group; a leaf lock (docs/locking.md)
	q      *frameList // pending frames, nil when none; q.pending()[0][off:] is next
	off    int32      // bytes of the head frame already written (a frame is < 2 GiB)
	peeked uint16     // head frames handed to the writer by the last Peek
	state  uint8
	tail   uint8 // what the last pending frame is (tailShared, tailReply, tailMerged)
	pongAt int32 // offset in the last pending frame of the pong that ends it; -1: none

	// Set by Hub.Open before the connection is registered, then read-only
	// (beside pongAt, in what would be padding).
	coalesce bool // a write may carry several frames (Policy.Coalesce)

	queued int   // bytes pending on the wire
	held   int   // memory pending: every frame's capacity plus slotCost, less off; the limit's figure
	since  int64 // unix ns of the last progress while bytes were pending
	born   int64 // unix ns when the queue last went from empty to pending

	stats *Stats // set by Hub.Open, then read-only: where writes are observed; nil in tests
}

// What the last pending frame is.
const (
	tailShared uint8 = iota // a frame that is not this outbox's to change (a push, a close), or none
	tailReply               // a reply frame of the caller's: merging copies it into a buffer of our own
	tailMerged              // a buffer of our own that holds replies: more may be appended
)

// slotCost is what one pending frame costs beyond its bytes: its slice
// header in the list (24 bytes), twice, as the list may hold up to double
// the room it uses.
const slotCost = 48

// mergeMax bounds the buffer that consecutive replies are copied into.
const mergeMax = 16 << 10

// charge is the memory a pending frame counts for.
func charge(frame []byte) int { return cap(frame) + slotCost }

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
	if limit > 0 && o.held+charge(frame) > limit {
		o.refuse()
		return o.queued, ErrSlowConsumer
	}
	o.appendLocked(frame)
	o.tail = tailShared
	return o.queued, nil
}

// reply appends frame, a reply of this connection's own (pong: a pong
// control frame), merging it into the reply that ends the queue when the
// writer has not taken that yet. Errors as push.
func (o *Outbox) reply(frame []byte, pong bool, limit int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state != outOpen {
		return ErrClosing
	}
	before := o.held
	switch {
	case o.tailOpen() && pong && o.pongAt >= 0:
		o.replaceLast(frame)
	case o.tailOpen() && len(o.last())+len(frame) <= mergeMax:
		o.merge(frame, pong)
	default:
		o.appendLocked(frame)
		o.tail, o.pongAt = tailReply, -1
		if pong {
			o.pongAt = 0
		}
	}
	if limit > 0 && o.held > limit && o.held > before {
		o.refuse()
		return ErrSlowConsumer
	}
	return nil
}

// tailOpen reports whether the last pending frame is a reply the writer has
// not taken: not handed out by the last Peek, not partly written. o.mu is
// held.
func (o *Outbox) tailOpen() bool {
	n := len(o.q.pending())
	return o.tail != tailShared && n > 0 && n > int(o.peeked) && !(n == 1 && o.off > 0)
}

// last returns the last pending frame. o.mu is held; one is pending.
func (o *Outbox) last() []byte { return o.q.s[len(o.q.s)-1] }

// setLast replaces the last pending frame, keeping the counts. o.mu is held.
func (o *Outbox) setLast(b []byte) {
	old := o.last()
	o.held += cap(b) - cap(old)
	o.queued += len(b) - len(old)
	o.q.s[len(o.q.s)-1] = b
}

// replaceLast replaces the pong that ends the last frame with frame, a
// newer pong. o.mu is held.
func (o *Outbox) replaceLast(frame []byte) {
	if o.tail == tailReply { // the pong is the whole frame, the caller's
		o.setLast(frame)
		return
	}
	o.setLast(append(o.last()[:o.pongAt], frame...))
}

// merge appends frame to the last frame, a reply, first copying that into
// a buffer of our own unless it is one. o.mu is held.
func (o *Outbox) merge(frame []byte, pong bool) {
	b := o.last()
	if o.tail != tailMerged {
		b = append(make([]byte, 0, max(512, 2*(len(b)+len(frame)))), b...)
	}
	o.pongAt = -1
	if pong {
		o.pongAt = int32(len(b))
	}
	o.setLast(append(b, frame...))
	o.tail = tailMerged
}

// refuse drops what is pending (but what the writer holds) and queues
// close 1008 `slow consumer` as the last frame. o.mu is held.
func (o *Outbox) refuse() {
	o.dropPending()
	o.appendLocked(closeSlowConsumer)
	o.tail = tailShared
	o.state = outClosing
}

var closeSlowConsumer = CloseFrame(ClosePolicy, "slow consumer")

// pushGroup appends frames together when they fit under limit beside what
// is queued, and reports whether it did; else it queues nothing (a
// recovery's reply and replay: too large a replay is refused, not a slow
// consumer).
func (o *Outbox) pushGroup(frames [][]byte, limit int) bool {
	n := 0
	for _, f := range frames {
		n += charge(f)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state != outOpen || (limit > 0 && o.held+n > limit) {
		return false
	}
	for _, f := range frames {
		o.appendLocked(f)
	}
	o.tail = tailShared
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
	o.tail = tailShared
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
	o.queued, o.held = -int(o.off), -int(o.off)
	for _, f := range frames[:keep] {
		o.queued += len(f)
		o.held += charge(f)
	}
	if o.q == nil {
		return
	}
	o.q.s = o.q.s[:o.q.head+keep]
	if cap(o.q.s) > 2*keep+16 { // give back the room a long backlog took, now
		q := framePool.Get().(*frameList)
		q.s = append(q.s[:0], o.q.s[o.q.head:]...)
		o.releaseList()
		o.q = q
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
	o.held += charge(frame)
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
	o.queued, o.held, o.tail = 0, 0, tailShared
	closeNow = o.state == outClosing
	if closeNow {
		o.state = outClosed
		if o.stats != nil {
			o.stats.ClosesWritten.Add(1)
		}
	}
	return true, closeNow
}

// dropWritten forgets the n bytes written from the head of the queue and
// returns how many frames they completed. o.mu is held.
func (o *Outbox) dropWritten(n int) (done int) {
	for q := o.q; n > 0 && q != nil && q.head < len(q.s); done++ {
		head := q.s[q.head]
		rest := len(head) - int(o.off)
		if n < rest {
			o.off += int32(n)
			o.held -= n
			break
		}
		n -= rest
		o.held -= charge(head) - int(o.off)
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
	stalled, _ := o.writeTimes()
	return stalled
}

// sentSince returns when the close frame was written (the transport is
// lingering: it reads and discards until the peer closes), or 0 when it was
// not.
func (o *Outbox) sentSince() int64 {
	_, sent := o.writeTimes()
	return sent
}

// writeTimes is stalledSince and sentSince under one lock (the sweep asks
// both of every connection).
func (o *Outbox) writeTimes() (stalled, sent int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.queued != 0 || o.state == outClosing {
		stalled = o.since
	}
	if o.state == outClosed {
		sent = o.since
	}
	return stalled, sent
}

// markClosed stops the outbox for good and drops what it holds.
func (o *Outbox) markClosed() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.state = outClosed
	o.releaseList()
	o.off, o.queued, o.held, o.peeked, o.tail = 0, 0, 0, 0, tailShared
}

// Closing reports whether a close frame is queued or written.
func (o *Outbox) Closing() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.state != outOpen
}
