package cluster

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/gpush/gpush/core"
)

// link is one NATS connection and the queue its subscriptions deliver into.
// A lost link is never reused: the broker dials a new one.
type link struct {
	nc      *nats.Conn
	ch      chan *nats.Msg // every subscription of nc delivers here, in arrival order
	confirm barrier        // round trips on nc
	lossy   atomic.Bool    // NATS dropped pushes on it: what follows a gap is not delivered
	lost    chan struct{}  // closed once the link is lost
	once    sync.Once
}

// lose marks l lost, whatever the cause; run takes it down.
func (l *link) lose() { l.once.Do(func() { close(l.lost) }) }

// run keeps a link in force until Close: dial, restore the interest, wait
// for a loss, take the link down, again. Attempts start at most RetryWait
// apart, forever.
func (b *Broker) run() {
	defer b.wg.Done()
	for {
		start := time.Now()
		if l, err := b.connect(); err != nil {
			b.stats.Dials.Add(1)
			b.log.Warn("broker link: connection failed", "urls", strings.Join(b.cfg.URLs, ","), "err", err)
		} else {
			select {
			case <-l.lost:
				b.down(l)
				b.log.Warn("broker link lost; reconnecting")
			case <-b.stop:
				b.down(l)
				return
			}
		}
		select {
		case <-time.After(b.cfg.RetryWait - time.Since(start)):
		case <-b.stop:
			return
		}
	}
}

// connect dials a link and restores the interest on it; when it returns
// nil the link is in force.
func (b *Broker) connect() (*link, error) {
	l := &link{ch: make(chan *nats.Msg, b.cfg.Queue), lost: make(chan struct{})}
	nc, err := nats.Connect(strings.Join(b.cfg.URLs, ","),
		nats.Name("gpushd "+b.cfg.NodeID),
		nats.NoReconnect(), // a new link per connection: see run
		nats.Timeout(b.cfg.RetryWait),
		nats.PingInterval(b.cfg.PingInterval),
		nats.MaxPingsOutstanding(2),
		nats.FlusherTimeout(b.cfg.ConfirmTimeout),
		nats.ClosedHandler(func(*nats.Conn) { l.lose() }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { b.asyncError(l, err) }),
	)
	if err != nil {
		return nil, err
	}
	l.nc = nc
	l.confirm.flush = func() error { return b.roundTrip(l) }
	if err := b.restore(l); err != nil {
		nc.Close()
		b.down(l)
		return nil, fmt.Errorf("restoring interest: %w", err)
	}
	return l, nil
}

// roundTrip is one PING/PONG on l; a link that does not answer in time
// counts as lost.
func (b *Broker) roundTrip(l *link) error {
	err := l.nc.FlushTimeout(b.cfg.ConfirmTimeout)
	if err != nil {
		l.lose()
	}
	return err
}

func (b *Broker) asyncError(l *link, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) {
		b.stats.SlowDrops.Add(1)
		l.lossy.Store(true)
		l.lose()
		b.log.Warn("broker link: pushes dropped (receive queue full); treating it as a link loss", "queue", b.cfg.Queue)
		return
	}
	b.log.Warn("broker link error", "err", err)
}

// restore subscribes push-to-all and every subject with local interest on
// l, confirms them with a round trip, has the delivery goroutine switch to l
// (finishing the old queue and resyncing every connection), and then puts
// l in force.
func (b *Broker) restore(l *link) error {
	if err := b.resubscribe(l); err != nil {
		return err
	}
	if err := l.nc.FlushTimeout(b.cfg.ConfirmTimeout); err != nil {
		return err
	}
	b.mu.Lock()
	resync := b.linked
	b.linked = true
	b.mu.Unlock()
	h := handover{l: l, resync: resync, done: make(chan struct{})}
	select {
	case b.handover <- h:
		<-h.done
	case <-b.stop:
		return errors.New("closing")
	}
	b.mu.Lock()
	for _, in := range b.interest {
		in.confirmed = in.ns != nil
	}
	b.link.Store(l)
	b.mu.Unlock()
	b.stats.Up.Store(true)
	if resync {
		b.stats.Reconnects.Add(1)
	}
	b.log.Info("broker link up", "server", l.nc.ConnectedUrl(), "subjects", b.stats.Subjects.Load())
	return nil
}

// resubscribe subscribes, on l, push-to-all and every subject that has
// references; idle ones are forgotten.
func (b *Broker) resubscribe(l *link) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	all := b.subj.of(core.Sub{})
	if _, err := l.nc.ChanSubscribe(all, l.ch); err != nil {
		return err
	}
	b.stats.Subjects.Add(1)
	for subject, in := range b.interest {
		if in.refs == 0 {
			delete(b.interest, subject)
			delete(b.idle, subject)
			continue
		}
		if err := b.subscribe(l, subject, in); err != nil {
			return err
		}
	}
	return nil
}

// down takes l out of force and closes it: pushes and subscribes fail until
// the next link is restored.
func (b *Broker) down(l *link) {
	b.mu.Lock()
	wasUp := b.link.Load() == l
	if wasUp {
		b.link.Store(nil)
	}
	for _, in := range b.interest {
		in.ns, in.confirmed = nil, false
	}
	b.stats.Subjects.Store(0)
	b.mu.Unlock()
	l.lose()
	l.nc.Close()
	if wasUp {
		b.stats.Up.Store(false)
		b.stats.Losses.Add(1)
	}
}
