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
// queue holds slices of them, not copies. An idle outbox is its lock and a
// nil pointer: everything that means something only while frames are
// pending (the frames, the counts, the clocks, the reply at the end) lives
// in a queue that comes from a pool when the first frame is queued and
// goes back when the last is written, so a busy connection does not grow a
// new slice for every batch either. Once the close frame is written, the
// queue stays, emptied, to say when (the sweep ends the linger from it),
// and goes back to the pool, list and all, when the socket is gone.
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
	mu sync.Mutex // guards q and the queue it points to; a leaf lock (docs/locking.md)
	q  *queue     // nil: open, nothing pending; gone: the socket is gone (markClosed)
}

// outConfig is what every outbox of a hub shares (Hub.out): passed in by
// the caller that queues, and kept by the queue for the writer's calls.
type outConfig struct {
	limit    int    // memory an outbox may hold (Limits.MaxQueued); 0: none
	coalesce bool   // a write may carry several frames (Policy.Coalesce)
	stats    *Stats // where writes are observed; nil in tests
}

// queue is what an outbox holds while frames are pending (from the pool)
// and, once its close frame is written, until the socket is gone (then
// only state and since mean something, and s is empty). s[head:] are
// the pending frames, s[:head] written ones already cleared; s[head][off:]
// is next.
type queue struct {
	s      [][]byte
	head   int
	off    int32  // bytes of the head frame already written (a frame is < 2 GiB)
	pongAt int32  // offset in the last pending frame of the pong that ends it; -1: none
	peeked uint16 // head frames handed to the writer by the last Peek
	state  uint8
	tail   uint8 // what the last pending frame is (tailShared, tailReply, tailMerged)
	queued int   // bytes pending on the wire
	held   int   // memory pending: every frame's capacity plus slotCost, less off; the limit's figure
	since  int64 // unix ns of the last progress while bytes were pending (closed: when the close frame went out)
	born   int64 // unix ns when the queue last went from empty to pending

	cfg *outConfig // of the call that took the queue from the pool
}

// gone is the queue of every outbox whose socket is gone (markClosed): it
// holds nothing, and nothing writes to it, as every change first checks
// that the outbox is open or has frames pending.
var gone = &queue{state: outClosed}

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

// open reports whether the outbox accepts frames. o.mu is held.
func (o *Outbox) open() bool { return o.q == nil || o.q.state == outOpen }

// take returns the outbox's queue, from the pool when it has none. o.mu is
// held and the outbox is open.
func (o *Outbox) take(cfg *outConfig) *queue {
	if o.q == nil {
		o.q = queuePool.Get().(*queue)
		o.q.cfg = cfg
	}
	return o.q
}

// push appends frame. pending is the number of bytes queued afterwards.
// When the frame would take the queue past cfg.limit, push queues nothing,
// replaces what is pending (but a partly written frame) with close 1008
// `slow consumer` and returns ErrSlowConsumer.
func (o *Outbox) push(frame []byte, cfg *outConfig) (pending int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pushLocked(frame, cfg)
}

// pushLocked is push with o.mu held.
func (o *Outbox) pushLocked(frame []byte, cfg *outConfig) (pending int, err error) {
	if !o.open() {
		return o.q.queued, ErrClosing
	}
	q := o.take(cfg)
	if cfg.limit > 0 && q.held+charge(frame) > cfg.limit {
		q.refuse()
		return q.queued, ErrSlowConsumer
	}
	q.push(frame)
	q.tail = tailShared
	return q.queued, nil
}

// reply appends frame, a reply of this connection's own (pong: a pong
// control frame), merging it into the reply that ends the queue when the
// writer has not taken that yet. Errors as push.
func (o *Outbox) reply(frame []byte, pong bool, cfg *outConfig) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.open() {
		return ErrClosing
	}
	q := o.take(cfg)
	before := q.held
	switch {
	case q.tailOpen() && pong && q.pongAt >= 0:
		q.replaceLast(frame)
	case q.tailOpen() && len(q.last())+len(frame) <= mergeMax:
		q.merge(frame, pong)
	default:
		q.push(frame)
		q.tail, q.pongAt = tailReply, -1
		if pong {
			q.pongAt = 0
		}
	}
	if cfg.limit > 0 && q.held > cfg.limit && q.held > before {
		q.refuse()
		return ErrSlowConsumer
	}
	return nil
}

// tailOpen reports whether the last pending frame is a reply the writer has
// not taken: not handed out by the last Peek, not partly written.
func (q *queue) tailOpen() bool {
	n := len(q.pending())
	return q.tail != tailShared && n > 0 && n > int(q.peeked) && !(n == 1 && q.off > 0)
}

// last returns the last pending frame; one is pending.
func (q *queue) last() []byte { return q.s[len(q.s)-1] }

// setLast replaces the last pending frame, keeping the counts.
func (q *queue) setLast(b []byte) {
	old := q.last()
	q.held += cap(b) - cap(old)
	q.queued += len(b) - len(old)
	q.s[len(q.s)-1] = b
}

// replaceLast replaces the pong that ends the last frame with frame, a
// newer pong.
func (q *queue) replaceLast(frame []byte) {
	if q.tail == tailReply { // the pong is the whole frame, the caller's
		q.setLast(frame)
		return
	}
	q.setLast(append(q.last()[:q.pongAt], frame...))
}

// merge appends frame to the last frame, a reply, first copying that into
// a buffer of our own unless it is one.
func (q *queue) merge(frame []byte, pong bool) {
	b := q.last()
	if q.tail != tailMerged {
		b = append(make([]byte, 0, max(512, 2*(len(b)+len(frame)))), b...)
	}
	q.pongAt = -1
	if pong {
		q.pongAt = int32(len(b))
	}
	q.setLast(append(b, frame...))
	q.tail = tailMerged
}

// refuse drops what is pending (but what the writer holds) and queues
// close 1008 `slow consumer` as the last frame.
func (q *queue) refuse() {
	q.dropPending()
	q.push(closeSlowConsumer)
	q.tail = tailShared
	q.state = outClosing
}

var closeSlowConsumer = CloseFrame(ClosePolicy, "slow consumer")

// pushGroup appends frames together when they fit under cfg.limit beside
// what is queued, and reports whether it did; else it queues nothing (a
// recovery's reply and replay: too large a replay is refused, not a slow
// consumer).
func (o *Outbox) pushGroup(frames [][]byte, cfg *outConfig) bool {
	n := 0
	for _, f := range frames {
		n += charge(f)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.open() || (cfg.limit > 0 && o.held()+n > cfg.limit) {
		return false
	}
	q := o.take(cfg)
	for _, f := range frames {
		q.push(f)
	}
	q.tail = tailShared
	return true
}

// held is the memory pending. o.mu is held.
func (o *Outbox) held() int {
	if o.q == nil {
		return 0
	}
	return o.q.held
}

// maxPooledFrames bounds the capacity of a list that goes back to the pool:
// a connection that once held a huge backlog does not pin it for others.
const maxPooledFrames = 1024

var queuePool = sync.Pool{New: func() any { return &queue{s: make([][]byte, 0, 16)} }}

// pending returns the pending frames; q may be nil.
func (q *queue) pending() [][]byte {
	if q == nil {
		return nil
	}
	return q.s[q.head:]
}

// push appends frame and counts it, first moving the pending frames to the
// front when the written ones take room that append would otherwise copy
// along.
func (q *queue) push(frame []byte) {
	if q.queued == 0 {
		q.since = time.Now().UnixNano()
		q.born = q.since
	}
	if len(q.s) == cap(q.s) && q.head > 0 {
		n := copy(q.s, q.s[q.head:])
		clear(q.s[n:])
		q.s, q.head = q.s[:n], 0
	}
	q.s = append(q.s, frame)
	q.queued += len(frame)
	q.held += charge(frame)
}

// release gives the outbox's queue back to the pool and puts next in its
// place (nil: idle; gone: the socket is gone). o.mu is held.
func (o *Outbox) release(next *queue) {
	q := o.q
	o.q = next
	if q != nil && q != gone {
		q.recycle()
	}
}

// recycle clears q and gives it back to the pool, unless its list grew
// past maxPooledFrames or it has none: the pool holds only queues whose
// list is ready for a backlog, not ones that would regrow it from nothing.
func (q *queue) recycle() {
	clear(q.s)
	if cap(q.s) == 0 || cap(q.s) > maxPooledFrames {
		return
	}
	*q = queue{s: q.s[:0]}
	queuePool.Put(q)
}

// closeWith queues frame, a close frame, as the last frame. It reports
// false when the outbox was not open.
func (o *Outbox) closeWith(frame []byte, cfg *outConfig) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.open() {
		return false
	}
	q := o.take(cfg)
	q.push(frame)
	q.tail = tailShared
	q.state = outClosing
	return true
}

// dropPending forgets every queued frame but a partly written head, whose
// rest must still go out to keep the stream framed.
//
// Frames handed to the writer by the last Peek are kept too: a blocking
// writer may be in the middle of writing them, and dropping them would let
// Advance count the close frame as written when it was not.
func (q *queue) dropPending() {
	frames := q.pending()
	keep := min(int(q.peeked), len(frames))
	if q.off > 0 && len(frames) > 0 {
		keep = max(keep, 1)
	}
	clear(frames[keep:])
	q.queued, q.held = -int(q.off), -int(q.off)
	for _, f := range frames[:keep] {
		q.queued += len(f)
		q.held += charge(f)
	}
	q.s = q.s[:q.head+keep]
	if cap(q.s) > 2*keep+16 { // give back the room a long backlog took, now
		spare := queuePool.Get().(*queue) // swap lists with a pooled queue
		spare.s, q.s = q.s, append(spare.s[:0], q.s[q.head:]...)
		q.head = 0
		spare.recycle()
	}
}

// Peek appends to dst the pending bytes, as slices of the shared frames:
// at most max slices, or only the head frame when the write policy does not
// coalesce. It returns dst unchanged when nothing is pending.
func (o *Outbox) Peek(dst [][]byte, max int) [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.q
	frames := q.pending()
	if len(frames) == 0 {
		return dst
	}
	n := len(dst)
	dst = append(dst, frames[0][q.off:])
	if q.cfg.coalesce {
		for _, f := range frames[1:] {
			if len(dst) >= max {
				break
			}
			dst = append(dst, f)
		}
	}
	q.peeked = uint16(min(len(dst)-n, math.MaxUint16))
	return dst
}

// Advance records that the socket accepted n bytes from the head of the
// queue. empty says whether nothing is pending now; closeNow says the close
// frame is out and the transport must close the socket.
func (o *Outbox) Advance(n int) (empty, closeNow bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.q
	if q == nil || q.state == outClosed {
		return true, false
	}
	wrote := n > 0
	if wrote {
		q.since = time.Now().UnixNano()
	}
	q.peeked = 0
	q.queued -= n
	stats := q.cfg.stats
	if done := q.dropWritten(n); stats != nil && done > 0 {
		stats.Batch.observePow2(BatchBounds, int64(done))
	}
	if len(q.pending()) > 0 {
		return false, false
	}
	if stats != nil && wrote {
		stats.Latency.observe(LatencyBounds, q.since-q.born)
	}
	if q.state == outOpen {
		o.release(nil) // an idle connection holds no queue
		return true, false
	}
	if stats != nil {
		stats.ClosesWritten.Add(1)
	}
	q.linger()
	return true, true
}

// linger turns q, its close frame written and nothing pending, into the
// queue of a lingering outbox: the sweep needs only when the close frame
// went out. It keeps its emptied list, so closing allocates nothing and
// the queue goes back to the pool whole when the socket is gone
// (markClosed), unless the list grew past maxPooledFrames: that goes now,
// and the queue, list-less, to the garbage collector later.
func (q *queue) linger() {
	s := q.s[:0]
	if cap(s) > maxPooledFrames {
		s = nil
	}
	*q = queue{s: s, state: outClosed, since: q.since}
}

// dropWritten forgets the n bytes written from the head of the queue and
// returns how many frames they completed.
func (q *queue) dropWritten(n int) (done int) {
	for ; n > 0 && q.head < len(q.s); done++ {
		head := q.s[q.head]
		rest := len(head) - int(q.off)
		if n < rest {
			q.off += int32(n)
			q.held -= n
			break
		}
		n -= rest
		q.held -= charge(head) - int(q.off)
		q.s[q.head] = nil
		q.head++
		q.off = 0
	}
	return done
}

// Pending returns the bytes queued.
func (o *Outbox) Pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.q == nil {
		return 0
	}
	return o.q.queued
}

// stalledSince returns when the socket last accepted bytes while some were
// pending, or 0 when nothing is pending.
func (o *Outbox) stalledSince() int64 {
	stalled, _ := o.writeTimes()
	return stalled
}

// sentSince returns when the close frame was written (the transport is
// lingering: it reads and discards until the peer closes), or 0 when it was
// not, or the socket is gone.
func (o *Outbox) sentSince() int64 {
	_, sent := o.writeTimes()
	return sent
}

// writeTimes is stalledSince and sentSince under one lock (the sweep asks
// both of every connection).
func (o *Outbox) writeTimes() (stalled, sent int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.q
	if q == nil {
		return 0, 0
	}
	if q.queued != 0 || q.state == outClosing {
		stalled = q.since
	}
	if q.state == outClosed {
		sent = q.since
	}
	return stalled, sent
}

// markClosed stops the outbox for good and drops what it holds.
func (o *Outbox) markClosed() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.release(gone)
}

// Closing reports whether a close frame is queued or written.
func (o *Outbox) Closing() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.open()
}
