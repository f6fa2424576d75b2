package core

import (
	"context"
	"errors"
)

// Broker carries pushes between the nodes of a cluster (PROTOCOL.md,
// Cluster). Without one (Config.Broker nil) the hub is a single node and
// delivers each push in the caller's goroutine. With one, a push goes to
// the broker only, and the hub delivers what the broker hands back through
// Hub.Deliver, its own pushes included: one path, one order. The
// implementation lives outside core (package cluster).
type Broker interface {
	// Publish hands ps to the broker one after another and returns once
	// the broker confirmed every one. An error (wrapping ErrUnavailable
	// when the link is down) means some may not have been accepted.
	Publish(ctx context.Context, ps []Push) error
	// Acquire takes one reference on the broker interest for s and
	// returns once the node receives s's pushes from the broker. It may
	// wait for a round trip; on error no reference is held.
	Acquire(ctx context.Context, s Sub) error
	// Release drops a reference Acquire took. It never blocks: callers
	// hold Conn.mu.
	Release(s Sub)
}

// Interested is a Broker's optional capability: Interested(s) reports
// whether the interest in s is in force now, so that Acquire would not
// wait. Event loops use it (Conn.MayBlock) to apply such a subscribe in
// place instead of on a goroutine.
type Interested interface {
	Interested(s Sub) bool
}

// ErrUnavailable is wrapped by the broker's errors while its link is down:
// pushes answer 503 / Unavailable, subscribes status 503.
var ErrUnavailable = errors.New("broker unavailable")

// StatusUnavailable answers a subscribe while the broker link is down.
const StatusUnavailable = 503

// OpResync is the code of the resync notice.
const OpResync Op = 10

// resyncFrame is the resync notice every connection gets when the broker
// link returns.
var resyncFrame = Reply{Code: OpResync, Status: StatusUnavailable,
	Message: "the broker link was down: pushes may have been missed; resubscribe with since to recover"}.Frame()

// Resync sends every connection the resync notice (code 10): pushes for its
// subscriptions may have been missed. The broker calls it when its link
// returns, in delivery order: after the last push that came over the lost
// link and before the first over the restored one. It is the hook for
// anything that must change when pushes may have been lost: with history
// on, every channel starts a new epoch first (NewEpochs), so a client that
// resubscribes with since is told recovered false. It returns how many
// connections were told.
func (h *Hub) Resync() int {
	h.NewEpochs()
	h.stats.Resyncs.Add(1)
	return h.fanOut(TargetAll, Sub{}, resyncFrame)
}

// MayBlock reports whether applying req may wait on something outside the
// server: a login (the Authenticator), or a subscribe while clustered whose
// broker interest is not yet in force. Event loops hand such a request to a
// goroutine instead of applying it in place.
func (c *Conn) MayBlock(req Request) bool {
	if req.MayBlock() {
		return true
	}
	b := c.hub.broker
	if b == nil || (req.Code != OpSubscribe && req.Code != OpSubscribePrivate) {
		return false
	}
	if _, ok := b.(Interested); !ok {
		return true
	}
	s := Sub{Topic: req.Topic}
	if req.Code == OpSubscribePrivate {
		s.UID = c.UID()
	}
	return !interested(b, s)
}

// acquire takes broker interest in s for a subscribe that would add it,
// without c.mu held: it may wait for a round trip. held says a reference
// was taken; the subscribe then keeps it only if it adds s (keepIfHeld). An
// error answers the subscribe with 503: the broker did not confirm, or the
// link is down (then a subscribe of what c holds already is refused too, so
// that no reply, history's included, claims anything while pushes may be
// missed).
func (c *Conn) acquire(ctx context.Context, s Sub) (held bool, err error) {
	b := c.hub.broker
	if b == nil {
		return false, nil
	}
	add, have := c.mayAdd(s)
	if !add {
		if have && !interested(b, s) {
			return false, ErrUnavailable
		}
		return false, nil
	}
	if err := b.Acquire(ctx, s); err != nil {
		return false, err
	}
	return true, nil
}

// interested reports whether b says s's interest is in force; a broker
// without the Interested capability is taken at its word.
func interested(b Broker, s Sub) bool {
	in, ok := b.(Interested)
	return !ok || in.Interested(s)
}

// mayAdd reports whether a subscribe of s would add it now, and whether c
// holds it already.
func (c *Conn) mayAdd(s Sub) (add, have bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	have = c.holds(s)
	return !c.isGone() && (s.UID == "" || s.UID == c.uidNow()) && !have && c.subs.len() < c.hub.lim.MaxSubs, have
}

// keepIfHeld drops the reference acquire took unless c holds s now. c.mu
// is held.
func (c *Conn) keepIfHeld(s Sub) {
	if !c.holds(s) {
		c.hub.release(s)
	}
}

// release drops the broker interest of a subscription a connection left.
func (h *Hub) release(s Sub) {
	if h.broker != nil {
		h.broker.Release(s)
	}
}
