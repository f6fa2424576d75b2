package wsframe

import "sync"

// Parking. A Parser is 56 bytes, yet between frames, where an idle
// connection spends its life, it holds nothing but its Config. A server
// with many connections can keep one working Parser per goroutine that
// parses (an event loop), configured once, and per connection only a
// Parked, 8 bytes: empty while no frame or message is partial, the common
// case when whole frames arrive in one read. FeedParked moves the
// connection's state into the working Parser, feeds it and parks what is
// left partial in a Parser from a pool, or leaves the Parked empty. So a
// peer that holds half frames costs its Parked state (one Parser and the
// buffer of its incomplete frame or message, bounded as Buffered says);
// an idle peer costs 8 bytes.

// Parked is a connection's parser state while its working Parser parses
// for others. The zero value is a connection at a frame boundary. It is
// owned by whoever feeds the connection. It must not be copied while it
// holds state (Empty is false): the copy would name a Parser that the
// original gives back to its pool. (Releasing such a copy after the
// original gives nothing back twice, unless the pool handed the Parser
// out again meanwhile.)
type Parked struct {
	p *Parser // nil: nothing partial; &failed after an error
}

// failed stands for the parked state of a Parser that returned an error:
// it is never written, and a Parked that points to it holds nothing.
var failed = Parser{state: stFailed}

var parkPool = sync.Pool{New: func() any { return new(Parser) }}

// FeedParked is Feed for the connection whose state k holds: p takes
// it, parses b and gives back to k what is left partial (on an error,
// only that Feed failed, so feeding k again returns ErrFailed). p carries
// the Config: p keeps its own, whichever Parser parked k's state, and is
// left at a frame boundary for the next connection. h must not call
// FeedParked with p.
func (p *Parser) FeedParked(k *Parked, b []byte, h Handler) error {
	p.unpark(k)
	err := p.Feed(b, h)
	p.park(k)
	return err
}

// unpark loads k's state into p, or a frame boundary when k is empty,
// keeping p's Config. k's copy is stale until park overwrites or drops
// it: the buffer is p's.
func (p *Parser) unpark(k *Parked) {
	if k.p == nil {
		p.boundary()
		return
	}
	lim, cli := p.max, p.cli
	*p = *k.p // &failed too: a failed state that refuses input
	p.max, p.cli = lim, cli
}

// park moves what is partial in p to k, in a pooled Parser, or empties k
// when nothing is; p is left at a frame boundary.
func (p *Parser) park(k *Parked) {
	switch {
	case p.state == stFailed:
		k.drop()
		k.p = &failed
	case p.idle():
		k.drop()
	default:
		if k.p == nil || k.p == &failed {
			k.p = parkPool.Get().(*Parser)
			gauge.parked.Add(1)
		}
		*k.p = *p
	}
	p.boundary()
}

// idle reports whether p is at a frame boundary with no message open and
// no buffer held: a clean Parser would parse the next bytes the same way.
func (p *Parser) idle() bool {
	return p.state == stHeader && p.nhdr == 0 && p.msgOp == 0 && p.acc == nil
}

// drop empties k without touching a buffer its state names (the working
// Parser owns that one) and gives its Parser back to the pool. A Parser
// already given back (stPooled: a stale copy of k) is not given twice.
func (k *Parked) drop() {
	if k.holds() {
		*k.p = Parser{state: stPooled}
		parkPool.Put(k.p)
		gauge.parked.Add(-1)
	}
	k.p = nil
}

// Release drops a parked partial frame or message, giving its buffer and
// its Parser back to their pools. Call it when the connection closes;
// k is then empty, and releasing it again does nothing.
func (k *Parked) Release() {
	if k.holds() {
		k.p.release()
	}
	k.drop()
}

// holds reports whether k has a pooled Parser of its own.
func (k *Parked) holds() bool { return k.p != nil && k.p != &failed && k.p.state != stPooled }

// Buffered reports the payload bytes parked for an incomplete frame or
// message, as Parser.Buffered: 0 when nothing is partial.
func (k *Parked) Buffered() int {
	if k.p == nil {
		return 0
	}
	return k.p.Buffered()
}

// Empty reports whether k costs nothing beyond its own 8 bytes: nothing
// is partial, it was released, or its connection failed.
func (k *Parked) Empty() bool { return !k.holds() }
