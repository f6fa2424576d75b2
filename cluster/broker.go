package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpush/gpush/core"
)

// Config configures a Broker; only URLs is required.
type Config struct {
	URLs           []string      // NATS servers, nats://host:port; any one of them will do
	NodeID         string        // names this node (NATS connection name, logs); empty: NewNodeID
	Prefix         string        // subject prefix; empty: DefaultPrefix
	RetryWait      time.Duration // longest gap between connection attempts (2 s), also the dial timeout
	PingInterval   time.Duration // link pings (3 s); a silent broker is noticed within 3 of them
	ConfirmTimeout time.Duration // longest wait for a round trip before the link counts as lost (5 s)
	UnsubDelay     time.Duration // unsubscribe this long after a subject's last local subscriber left (1 s)
	Queue          int           // pushes buffered between the NATS reader and delivery (65,536); beyond: a link loss
	Logger         *slog.Logger  // nil: slog.Default()
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.RetryWait, 2*time.Second)
	def(&c.PingInterval, 3*time.Second)
	def(&c.ConfirmTimeout, 5*time.Second)
	def(&c.UnsubDelay, time.Second)
	if c.Queue <= 0 {
		c.Queue = 1 << 16
	}
	if c.NodeID == "" {
		c.NodeID = NewNodeID()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// NewNodeID returns a random node id: 16 hex digits.
func NewNodeID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ParseURLs splits a -broker value, nats://host:port[,nats://...].
func ParseURLs(s string) []string {
	var urls []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	return urls
}

// Sink is where a Broker delivers: *core.Hub.
type Sink interface {
	// Deliver hands one push to the local connections.
	Deliver(p core.Push) int
	// Resync tells every local connection that pushes may have been missed.
	Resync() int
}

// Broker is a core.Broker over NATS. New makes it, Start connects it (in the
// background: a node starts even with the broker unreachable), Close ends it.
type Broker struct {
	cfg   Config
	subj  subjects
	log   *slog.Logger
	stats Stats
	link  atomic.Pointer[link] // in force; nil while down. Stored under mu.

	mu       sync.Mutex           // guards the fields below; taken after core.Conn.mu, never held while calling the sink
	interest map[string]*interest // subject -> interest with references, or idle until UnsubDelay passes
	idle     map[string]*interest // the interests without references
	linked   bool                 // a link was in force once (later ones resync)

	sink     Sink
	handover chan handover // run -> deliver: a restored link
	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// New checks cfg and makes a Broker; it connects nothing yet.
func New(cfg Config) (*Broker, error) {
	cfg.defaults()
	if len(cfg.URLs) == 0 {
		return nil, fmt.Errorf("cluster: no NATS server URL")
	}
	subj, err := newSubjects(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	return &Broker{
		cfg:      cfg,
		subj:     subj,
		log:      cfg.Logger.With("node", cfg.NodeID),
		interest: make(map[string]*interest),
		idle:     make(map[string]*interest),
		handover: make(chan handover),
		stop:     make(chan struct{}),
	}, nil
}

// NodeID returns the node's id.
func (b *Broker) NodeID() string { return b.cfg.NodeID }

// Stats returns the broker's counters.
func (b *Broker) Stats() *Stats { return &b.stats }

// Up reports whether the link is in force: pushes and subscribes are
// accepted, /readyz answers 200.
func (b *Broker) Up() bool { return b.link.Load() != nil }

// Start begins connecting, and delivering to sink what the broker sends. It
// returns at once.
func (b *Broker) Start(sink Sink) {
	b.sink = sink
	b.wg.Add(3)
	go b.run()
	go b.deliver()
	go b.sweep()
}

// Close ends the link and every goroutine of the broker. Pushes and
// subscribes fail from now on.
func (b *Broker) Close() {
	b.stopOnce.Do(func() { close(b.stop) })
	b.wg.Wait()
}

// Publish implements core.Broker: it publishes ps in order on the link and
// returns once one round trip after the last of them confirmed them all.
func (b *Broker) Publish(ctx context.Context, ps []core.Push) error {
	l := b.link.Load()
	if l == nil {
		b.stats.Refused.Add(int64(len(ps)))
		return core.ErrUnavailable
	}
	for i, p := range ps {
		if err := l.nc.Publish(b.subj.of(core.Sub{UID: p.UID, Topic: p.Topic}), p.Data); err != nil {
			b.stats.Unconfirmed.Add(int64(len(ps) - i))
			return fmt.Errorf("%w: %v", core.ErrUnavailable, err)
		}
	}
	if err := l.confirm.wait(ctx); err != nil {
		b.stats.Unconfirmed.Add(int64(len(ps)))
		return fmt.Errorf("%w: not confirmed: %v", core.ErrUnavailable, err)
	}
	b.stats.Published.Add(int64(len(ps)))
	return nil
}
