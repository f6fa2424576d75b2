package core

import (
	"errors"
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
// queue holds slices of them, not copies. An idle outbox holds no buffer.
//
// Any goroutine may Push; one writer at a time (the transport's) calls Peek
// and Advance.
type Outbox struct {
	mu     sync.Mutex // guards every field below
	frames [][]byte   // pending frames; frames[0][off:] is next to write
	off    int        // bytes of frames[0] already written
	peeked int        // head frames handed to the writer by the last Peek
	queued int        // bytes pending: the slow-consumer figure
	state  uint8
	since  int64  // unix ns of the last progress while bytes were pending
	born   int64  // unix ns when the queue last went from empty to pending
	stats  *Stats // where writes are observed; set by Hub.Open, nil in tests
}

// push appends frame. pending is the number of bytes queued afterwards and
// first says whether the queue was empty before. When the frame would take
// the queue past limit, push queues nothing, replaces what is pending (but a
// partly written frame) with close 1008 `slow consumer` and returns
// ErrSlowConsumer.
func (o *Outbox) push(frame []byte, limit int) (pending int, first bool, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state != outOpen {
		return o.queued, false, ErrClosing
	}
	if limit > 0 && o.queued+len(frame) > limit {
		o.dropPending()
		o.appendLocked(closeSlowConsumer)
		o.state = outClosing
		return o.queued, false, ErrSlowConsumer
	}
	first = o.queued == 0
	o.appendLocked(frame)
	return o.queued, first, nil
}

var closeSlowConsumer = CloseFrame(ClosePolicy, "slow consumer")

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
	keep := min(o.peeked, len(o.frames))
	if o.off > 0 && len(o.frames) > 0 {
		keep = max(keep, 1)
	}
	clear(o.frames[keep:])
	o.frames = o.frames[:keep]
	o.queued = -o.off
	for _, f := range o.frames {
		o.queued += len(f)
	}
}

func (o *Outbox) appendLocked(frame []byte) {
	if o.queued == 0 {
		o.since = time.Now().UnixNano()
		o.born = o.since
	}
	o.frames = append(o.frames, frame)
	o.queued += len(frame)
}

// Peek appends to dst the pending bytes, as slices of the shared frames:
// at most max slices, or only the head frame when coalesce is false. It
// returns dst unchanged when nothing is pending.
func (o *Outbox) Peek(dst [][]byte, max int, coalesce bool) [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.frames) == 0 {
		return dst
	}
	n := len(dst)
	dst = append(dst, o.frames[0][o.off:])
	if coalesce {
		for _, f := range o.frames[1:] {
			if len(dst) >= max {
				break
			}
			dst = append(dst, f)
		}
	}
	o.peeked = len(dst) - n
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
	done := 0
	for n > 0 && len(o.frames) > 0 {
		rest := len(o.frames[0]) - o.off
		if n < rest {
			o.off += n
			break
		}
		n -= rest
		o.frames[0] = nil
		o.frames = o.frames[1:]
		o.off = 0
		done++
	}
	if o.stats != nil && done > 0 {
		o.stats.Batch.observePow2(BatchBounds, int64(done))
	}
	if len(o.frames) > 0 {
		return false, false
	}
	if o.stats != nil && wrote {
		o.stats.Latency.observe(LatencyBounds, o.since-o.born)
	}
	o.frames = nil // an idle connection holds no queue
	o.queued = 0
	if o.state == outClosing {
		o.state = outClosed
		return true, true
	}
	return true, false
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
	o.frames = nil
	o.off, o.queued, o.peeked = 0, 0, 0
}

// Closing reports whether a close frame is queued or written.
func (o *Outbox) Closing() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.state != outOpen
}
