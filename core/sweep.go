package core

import (
	"context"
	"time"
)

// sweepTick is how often the liveness sweep runs: often enough for the idle
// timeout's precision (and history's TTL), never more than once per 10 ms.
func (h *Hub) sweepTick() time.Duration {
	d := min(time.Second, max(10*time.Millisecond, h.lim.IdleTimeout/10))
	if h.hist != nil {
		d = min(d, time.Duration(h.hist.every))
	}
	return d
}

// sweepLoop is the one goroutine that enforces the idle timeout, the write
// timeout, the close linger and credential expiry for every connection: no timer per
// connection. Each tick walks the registry once, which costs a few
// nanoseconds per connection.
func (h *Hub) sweepLoop() {
	defer close(h.done)
	t := time.NewTicker(h.sweepTick())
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			h.sweep(now.UnixNano())
		}
	}
}

type sweepAction struct {
	c    *Conn
	kind uint8
	sent int64 // actLinger: when the close frame was written
}

const (
	actIdle uint8 = iota
	actStalled
	actExpire
	actLinger
)

func (h *Hub) sweep(now int64) {
	idle := now - int64(h.lim.IdleTimeout)
	stall := now - int64(h.lim.WriteTimeout)
	linger := now - int64(h.lim.CloseLinger)
	var acts []sweepAction
	h.reg.Each(TargetAll, Sub{}, func(c *Conn) {
		stalled, sent := c.Out.writeTimes()
		if stalled != 0 && stalled < stall {
			acts = append(acts, sweepAction{c, actStalled, 0})
		} else if sent != 0 {
			if sent < linger {
				acts = append(acts, sweepAction{c, actLinger, sent})
			}
		} else if c.active.Load() < idle {
			acts = append(acts, sweepAction{c, actIdle, 0})
		} else if e := c.expAt(); e != 0 && e <= now {
			acts = append(acts, sweepAction{c, actExpire, 0})
		}
	})
	for _, a := range acts { // outside the registry's locks
		switch a.kind {
		case actStalled:
			a.c.link.Abort()
		case actIdle:
			if !a.c.CloseWith(CloseGoingAway, "idle timeout") && a.c.Out.Pending() == 0 {
				a.c.link.Abort() // its close frame is out and it is still not gone; one still queued has the write timeout
			}
		case actExpire:
			a.c.expire(now)
		case actLinger: // past the linger, and the peer has the close frame or had the write timeout to take it
			if a.sent < stall || !unacked(a.c.link) {
				a.c.link.Abort()
			}
		}
	}
	if h.hist != nil {
		h.hist.sweep(now, h.reg)
	}
}

// Unacked is a Link that can tell whether its socket still holds bytes the
// peer has not acknowledged (the close frame among them).
type Unacked interface {
	Unacked() bool
}

// unacked reports whether link's socket still holds bytes the peer has not
// acknowledged: while it does, the linger after the close frame lasts up
// to the write timeout, so a slow reader still finds the close frame.
func unacked(link Link) bool {
	u, ok := link.(Unacked)
	return ok && u.Unacked()
}

// expAt returns the credential expiry without taking c.mu: the sweep calls
// it under registry read locks, and c.mu comes before those (docs/locking.md).
func (c *Conn) expAt() int64 {
	if w := c.who.Load(); w != nil {
		return w.exp
	}
	return 0
}

// Drain queues close 1001 `going away` behind what every connection has
// queued, at once, and waits (bounded by ctx) until every close frame is
// written (or the socket closed); those left, lingering ones included, are
// aborted. Each connection closes on its own: one that reads
// nothing delays no one else's 1001. Every pass of the wait closes the
// connections opened since the last, so an upgrade that completes during
// the drain gets its 1001 too.
func (h *Hub) Drain(ctx context.Context) {
	var conns []*Conn
	all := func() []*Conn {
		conns = conns[:0]
		h.reg.Each(TargetAll, Sub{}, func(c *Conn) { conns = append(conns, c) })
		return conns
	}
	settled := false // every close frame was written at the last pass
	h.waitUntil(ctx, func() bool {
		sent := true
		for _, c := range all() { // outside the registry's locks: CloseWith kicks
			c.CloseWith(CloseGoingAway, "going away")
			sent = sent && c.Out.sentSince() != 0
		}
		// Once every 1001 is written, one more pass lets the sockets that
		// close at once go; a shutdown does not wait out the lingers.
		done := len(conns) == 0 || (sent && settled)
		settled = sent
		return done
	})
	for _, c := range all() { // Abort may call Closed: outside the registry's locks
		c.link.Abort()
	}
}

func (h *Hub) waitUntil(ctx context.Context, cond func() bool) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
