package core

import (
	"sync"
	"sync/atomic"
	"time"
	"unique"
)

// Link is the transport's side of one connection.
type Link interface {
	// Kick writes out what the connection's outbox holds, at once or soon,
	// without blocking on the network. When a close frame has gone out the
	// transport closes the socket and calls Hub.Closed.
	Kick()
	// Abort closes the socket now, whatever is queued.
	Abort()
}

// Conn is one client connection as the protocol sees it: its session state
// and its output queue. Transports create it with Hub.Open, feed it complete
// client messages, and write out its Outbox.
type Conn struct {
	id   uint64
	hub  *Hub
	link Link

	Out Outbox // frames waiting for the socket; has its own lock

	active    atomic.Int64  // unix ns of the last frame from the client
	Scheduled atomic.Bool   // owned by the write policy: queued for a flush
	flags     atomic.Uint32 // flagGone, flagHolding, flagOwed
	// who is the logged-in user and credential expiry, nil when not logged
	// in: behind a pointer, so that a connection that never logs in does
	// not carry them (Conn stays in its size class, TestConnSize). Replaced,
	// never modified, under mu; the sweep reads it without mu, as it holds
	// registry locks (docs/locking.md).
	who atomic.Pointer[identity]

	mu     sync.Mutex // guards the session fields below; taken before registry locks (docs/locking.md)
	tokens float32    // request rate bucket: up to the rate, refilled at the rate
	flood  float32    // flood bucket: up to twice the rate, refilled at twice the rate
	refill int64      // unix ns of the last refill of both

	// subs are the subscriptions the connection holds (subSet: the first
	// inline). Written with both mu and Out.mu held, read with either: a
	// push checks, under Out.mu, that the connection holds the
	// subscription at the moment it queues the frame (docs/locking.md).
	subs subSet
}

// identity is a login: immutable once stored in Conn.who.
type identity struct {
	uid string // the user
	exp int64  // credential expiry, unix ns, 0 = none
}

// uidNow returns the logged-in user id, or "", without taking c.mu.
func (c *Conn) uidNow() string {
	if w := c.who.Load(); w != nil {
		return w.uid
	}
	return ""
}

// Conn.flags bits.
const (
	flagGone    uint32 = 1 << iota // Hub.Closed ran
	flagHolding                    // the reader holds replies' kicks until Release
	flagOwed                       // a reply was queued while holding: Release kicks
)

// isGone reports whether Hub.Closed ran.
func (c *Conn) isGone() bool { return c.flags.Load()&flagGone != 0 }

// ID is unique among the connections of one process, for its whole life
// (unlike a file descriptor, it is never reused).
func (c *Conn) ID() uint64 { return c.id }

// Link returns the transport side of c.
func (c *Conn) Link() Link { return c.link }

// Touch records activity from the client (any frame), for the idle timeout.
func (c *Conn) Touch() { c.active.Store(time.Now().UnixNano()) }

// UID returns the logged-in user id, or "".
func (c *Conn) UID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uidNow()
}

// send queues a push's frame and tells the write policy. A frame for a
// channel (t is not TargetAll) is queued only when, at that moment, the
// connection holds s (key is subKey(s), the push's channel): whatever registry found c, and
// however late its walk, a connection that left the channel or logged in as
// another user since gets nothing. It reports whether the frame was queued,
// and whether c is to be written now: it runs inside a registry walk, so
// the caller kicks c once the walk is over (docs/locking.md).
func (c *Conn) send(frame []byte, t Target, key unique.Handle[Sub]) (queued, kick bool) {
	c.Out.mu.Lock()
	if t != TargetAll && !c.holdsLocked(key) {
		c.Out.mu.Unlock()
		return false, false
	}
	pending, err := c.Out.pushLocked(frame, &c.hub.out)
	c.Out.mu.Unlock()
	switch err {
	case nil:
		return true, c.hub.policy.Queued(c, pending)
	case ErrSlowConsumer:
		c.hub.stats.SlowConsumers.Add(1)
		c.hub.stats.countClose(ClosePolicy)
		return false, true // the close frame goes out after what the socket holds
	}
	return false, false
}

// holdsLocked reports whether c holds the subscription key (subKey).
// c.Out.mu (or c.mu) is held.
func (c *Conn) holdsLocked(key unique.Handle[Sub]) bool { return c.subs.has(key) }

// subKey interns s: two keys are equal exactly when their subscriptions are.
func subKey(s Sub) unique.Handle[Sub] { return unique.Make(s) }

// holds reports whether c holds s. c.mu (or c.Out.mu) is held.
func (c *Conn) holds(s Sub) bool { return c.holdsLocked(subKey(s)) }

// subList returns the subscriptions c holds. c.mu (or c.Out.mu) is held.
func (c *Conn) subList() []Sub {
	keys := c.subs.keys()
	subs := make([]Sub, len(keys))
	for i, k := range keys {
		subs[i] = k.Value()
	}
	return subs
}

// reply queues a frame that answers the client and writes it out now,
// whatever the write policy: replies are rare and someone waits for them.
func (c *Conn) reply(frame []byte) {
	c.queueReply(frame, false)
	c.kick()
}

// queue queues a frame that answers the client; the caller kicks.
func (c *Conn) queue(frame []byte) { c.queueReply(frame, false) }

// queueReply queues a reply (pong: a pong control frame).
func (c *Conn) queueReply(frame []byte, pong bool) {
	if err := c.Out.reply(frame, pong, &c.hub.out); err == ErrSlowConsumer {
		c.hub.stats.SlowConsumers.Add(1)
		c.hub.stats.countClose(ClosePolicy)
	}
}

// kick writes out the replies queued, unless the reader holds the
// connection (Hold): then its Release kicks.
func (c *Conn) kick() {
	if c.flags.Or(flagOwed)&flagHolding != 0 {
		return // Release clears both bits in one step, and kicks: it saw owed
	}
	c.flags.And(^flagOwed)
	c.link.Kick()
}

// Hold defers the kicks of the replies queued until Release: a transport
// that read many frames at once holds the connection while it handles
// them, so that their replies leave together, in one kick and one write,
// not one write each. Only the reading goroutine calls Hold and Release.
func (c *Conn) Hold() { c.flags.Or(flagHolding) }

// Release ends Hold and kicks once when replies were queued meanwhile.
func (c *Conn) Release() {
	if c.flags.And(^(flagHolding|flagOwed))&flagOwed != 0 {
		c.link.Kick()
	}
}

// Pong answers a ping control frame with payload. The ping counts as a
// request for the rate limit (Admit); beyond twice the limit the connection
// is closed. A pong still waiting in the queue for an earlier ping is
// replaced: the client gets one pong for the latest of the pings it sent
// together (RFC 6455 5.5.3).
func (c *Conn) Pong(payload []byte) {
	c.Touch()
	if c.Admit() == Flooded {
		return
	}
	c.queueReply(AppendFrame(make([]byte, 0, len(payload)+2), OpcodePong, payload), true)
	c.kick()
}

// CloseWith queues a close frame as the last thing the connection gets;
// the transport closes the socket once it is written. Protocol errors pass
// their RFC 6455 code. It reports false when the connection was already
// closing.
func (c *Conn) CloseWith(code int, reason string) bool {
	if !c.Out.closeWith(CloseFrame(code, reason), &c.hub.out) {
		return false
	}
	c.hub.stats.countClose(code)
	c.link.Kick()
	return true
}

// EchoClose answers a close frame from the client (payload already
// validated by the transport) with the same status code, as RFC 6455 asks.
func (c *Conn) EchoClose(code int) {
	c.Out.closeWith(CloseFrame(code, ""), &c.hub.out) // code 0: an empty close frame
	c.link.Kick()
}

// Limits returns the limits in force for c.
func (c *Conn) Limits() Limits { return c.hub.lim }

// Stats returns the counters of c's hub.
func (c *Conn) Stats() *Stats { return &c.hub.stats }
