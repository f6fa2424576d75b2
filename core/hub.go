package core

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unique"
)

// Config assembles a Hub. Registry and Policy are required; the rest has
// working zero values.
type Config struct {
	Registry Registry
	Policy   Policy
	Auth     Authenticator // nil: every login is refused
	Limits   Limits
	Format   Format
	History  HistoryConfig // zero: off
	Broker   Broker        // nil: a single node, delivery in process
	Logger   *slog.Logger  // nil: slog.Default()
}

// Hub is the local delivery side of the push API: it owns the registry,
// turns each push into frame bytes once, and hands them to every recipient's
// outbox. It also runs the liveness sweep (idle timeout, write timeout,
// credential expiry) for every connection, one goroutine for all.
type Hub struct {
	reg    Registry
	policy Policy
	out    outConfig // every outbox's limit, coalescing and stats
	auth   Authenticator
	lim    Limits
	format Format
	broker Broker // nil: single node
	log    *slog.Logger
	stats  Stats
	hist   *history // nil when history is off
	nextID atomic.Uint64

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// NewHub starts a hub and its sweep goroutine; Close stops it.
func NewHub(cfg Config) *Hub {
	h := &Hub{
		reg:    cfg.Registry,
		policy: cfg.Policy,
		auth:   cfg.Auth,
		lim:    cfg.Limits.WithDefaults(),
		format: cfg.Format,
		broker: cfg.Broker,
		log:    cfg.Logger,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.out = outConfig{limit: h.lim.MaxQueued, coalesce: h.policy.Coalesce(), stats: &h.stats}
	h.hist = newHistory(cfg.History, &h.stats)
	go h.sweepLoop()
	return h
}

// Limits returns the limits in force.
func (h *Hub) Limits() Limits { return h.lim }

// Stats returns the hub's counters.
func (h *Hub) Stats() *Stats { return &h.stats }

// Open registers a new connection, which receives broadcasts from now on.
func (h *Hub) Open(link Link) *Conn {
	c := &Conn{id: h.nextID.Add(1), hub: h, link: link}
	c.Touch()
	h.reg.Add(c)
	h.stats.Conns.Add(1)
	return c
}

// Closed unregisters c once its socket is closed. It is idempotent.
func (h *Hub) Closed(c *Conn) {
	if c.flags.Or(flagGone)&flagGone != 0 {
		return
	}
	c.mu.Lock()
	subs := c.subList()
	c.Out.mu.Lock()
	c.subs = subSet{}
	c.Out.mu.Unlock()
	if w := c.who.Swap(nil); w != nil && w.uid != "" {
		h.stats.LoggedIn.Add(-1)
	}
	h.reg.Remove(c, subs)
	for _, s := range subs {
		h.release(s)
	}
	c.mu.Unlock()
	h.stats.Subscriptions.Add(-int64(len(subs)))
	c.Out.markClosed()
	h.stats.Conns.Add(-1)
}

// Publish delivers p to the local connections at once (the in-process
// broker), or, clustered, hands it to the Broker and returns once the
// broker confirmed it. p must have passed Push.Check.
func (h *Hub) Publish(ctx context.Context, p Push) error {
	if h.broker != nil {
		return h.broker.Publish(ctx, []Push{p})
	}
	h.Deliver(p)
	return nil
}

// Local reports whether the hub delivers pushes in-process, in the
// publisher's goroutine (no broker): a publish then has no round trip that
// pushes arriving meanwhile could share.
func (h *Hub) Local() bool { return h.broker == nil }

// PublishBatch delivers ps to the local connections at once, in order: the
// in-process broker's core.BatchPublisher. Clustered, the Broker takes the
// batch and confirms it once.
func (h *Hub) PublishBatch(ctx context.Context, ps []Push) error {
	if h.broker != nil {
		return h.broker.Publish(ctx, ps)
	}
	for _, p := range ps {
		h.Deliver(p)
	}
	return nil
}

// Deliver encodes p once and queues the frame for every recipient, in the
// caller's goroutine, so pushes made one after another reach every
// connection in that order. It returns how many connections queued it. The
// registry only proposes recipients: Conn.send queues a channel's frame
// only to a connection that holds that subscription at that moment, so no
// registry, however it walks, can deliver a private push to a connection
// that has since logged in as someone else, nor a push after the
// unsubscribe reply. With history on, a push on a channel is numbered,
// encoded with its offset and kept, all under the channel's lock, which it
// holds while it queues the frame (docs/locking.md).
func (h *Hub) Deliver(p Push) int {
	t := p.Target()
	h.stats.Pushes[t].Add(1)
	s := Sub{UID: p.UID, Topic: p.Topic}
	var n int
	if h.hist == nil || t == TargetAll {
		n = h.fanOut(t, s, h.format.Encode(p))
	} else {
		n = h.deliverKept(p, t, s)
	}
	h.stats.Deliveries.Add(int64(n))
	return n
}

// fanOut queues frame for every connection that holds s (or every one,
// for TargetAll), then writes out those the policy wants written now: after
// the walk, so that no socket write happens under a registry lock, where it
// would stall subscribes and closes on that shard for the whole fan-out.
func (h *Hub) fanOut(t Target, s Sub, frame []byte) int {
	kl := kickPool.Get().(*kickList)
	defer kickPool.Put(kl)
	n := h.queueAll(t, s, frame, kl)
	kl.kick()
	return n
}

// queueAll queues frame for the recipients and lists in kl those to kick.
func (h *Hub) queueAll(t Target, s Sub, frame []byte, kl *kickList) int {
	// The key is made at the first recipient: interning a subscription no
	// connection holds (a push to an empty channel, common on a cluster
	// node) would allocate an entry only to drop it. Each calls fn from
	// one goroutine.
	var key unique.Handle[Sub]
	made := t == TargetAll
	n := 0
	h.reg.Each(t, s, func(c *Conn) {
		if !made {
			key, made = subKey(s), true
		}
		queued, kick := c.send(frame, t, key)
		if queued {
			n++
		}
		if kick {
			kl.c = append(kl.c, c)
		}
	})
	return n
}

// kickList is the connections one push writes at once, kicked after the
// registry walk.
type kickList struct{ c []*Conn }

var kickPool = sync.Pool{New: func() any { return new(kickList) }}

// kick kicks every listed connection and empties the list.
func (l *kickList) kick() {
	for i, c := range l.c {
		c.link.Kick()
		l.c[i] = nil
	}
	l.c = l.c[:0]
}

// deliverKept delivers a push on a channel with history on: numbered and
// kept under the channel's lock, written after it.
func (h *Hub) deliverKept(p Push, t Target, s Sub) int {
	kl := kickPool.Get().(*kickList)
	defer kickPool.Put(kl)
	ch := h.hist.open(s)
	ch.off++
	frame := h.format.encode(p, ch.off)
	h.hist.keep(ch, frame, time.Now().UnixNano())
	n := h.queueAll(t, s, frame, kl)
	ch.mu.Unlock()
	kl.kick()
	return n
}

// NewEpochs starts a new epoch on every channel with history, for when
// pushes may have been lost (a cluster node's broker link was down): a
// subscribe with an older epoch then answers recovered false. Offsets go on
// from where they were; kept pushes are dropped. Without history it does
// nothing.
func (h *Hub) NewEpochs() {
	if h.hist != nil {
		h.hist.renew()
	}
}

// Close stops the sweep goroutine. It does not close connections; see Drain.
func (h *Hub) Close() {
	h.stopOnce.Do(func() { close(h.stop) })
	<-h.done
}
