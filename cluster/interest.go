package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/gpush/gpush/core"
)

// interest is this node's interest in one subject. Guarded by Broker.mu.
type interest struct {
	refs      int                // local subscriptions (Acquire minus Release)
	ns        *nats.Subscription // on the link in force; nil while down
	confirmed bool               // ns is in force at the broker (a round trip after it)
	idleAt    time.Time          // when refs fell to 0
}

// Acquire implements core.Broker: it takes a reference on s's subject,
// subscribes it at the first, and returns once the broker confirmed the
// subscription with a round trip.
func (b *Broker) Acquire(ctx context.Context, s core.Sub) error {
	subject := b.subj.of(s)
	b.mu.Lock()
	l := b.link.Load()
	if l == nil {
		b.mu.Unlock()
		b.stats.SubRefused.Add(1)
		return core.ErrUnavailable
	}
	in := b.interest[subject]
	if in == nil {
		in = &interest{}
		b.interest[subject] = in
	}
	in.refs++
	delete(b.idle, subject)
	if in.ns == nil {
		if err := b.subscribe(l, subject, in); err != nil {
			b.releaseLocked(subject, in)
			b.mu.Unlock()
			b.stats.SubRefused.Add(1)
			return fmt.Errorf("%w: %v", core.ErrUnavailable, err)
		}
	}
	confirmed := in.confirmed
	b.mu.Unlock()
	if confirmed {
		return nil
	}
	return b.confirmInterest(ctx, l, subject, in)
}

// confirmInterest waits for a round trip after in's subscription on l.
func (b *Broker) confirmInterest(ctx context.Context, l *link, subject string, in *interest) error {
	err := l.confirm.wait(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil && b.link.Load() != l {
		err = fmt.Errorf("link lost")
	}
	if err != nil {
		b.releaseLocked(subject, in)
		b.stats.SubRefused.Add(1)
		return fmt.Errorf("%w: %v", core.ErrUnavailable, err)
	}
	in.confirmed = true
	return nil
}

// subscribe subscribes subject on l into its queue. b.mu is held.
func (b *Broker) subscribe(l *link, subject string, in *interest) error {
	ns, err := l.nc.ChanSubscribe(subject, l.ch)
	if err != nil {
		return err
	}
	in.ns, in.confirmed = ns, false
	b.stats.Subjects.Add(1)
	b.stats.Subscribes.Add(1)
	return nil
}

// Release implements core.Broker: it drops a reference; the subject is
// unsubscribed UnsubDelay after its last reference went, unless one is
// taken again meanwhile.
func (b *Broker) Release(s core.Sub) {
	subject := b.subj.of(s)
	b.mu.Lock()
	if in := b.interest[subject]; in != nil {
		b.releaseLocked(subject, in)
	}
	b.mu.Unlock()
}

func (b *Broker) releaseLocked(subject string, in *interest) {
	if in.refs--; in.refs == 0 {
		in.idleAt = time.Now()
		b.idle[subject] = in
	}
}

// Interested implements core.Interested: s's subscription is in force, so
// Acquire would not wait.
func (b *Broker) Interested(s core.Sub) bool {
	subject := b.subj.of(s)
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.interest[subject]
	return in != nil && in.confirmed && b.link.Load() != nil
}

// sweep unsubscribes the subjects idle for UnsubDelay, and retries those
// whose unsubscribe failed.
func (b *Broker) sweep() {
	defer b.wg.Done()
	t := time.NewTicker(max(b.cfg.UnsubDelay/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case now := <-t.C:
			b.unsubscribeIdle(now)
		}
	}
}

func (b *Broker) unsubscribeIdle(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for subject, in := range b.idle {
		if now.Sub(in.idleAt) < b.cfg.UnsubDelay {
			continue
		}
		if in.ns != nil {
			if err := in.ns.Unsubscribe(); err != nil {
				b.stats.UnsubFailed.Add(1)
				b.log.Debug("unsubscribe failed; will retry", "subject", subject, "err", err)
				continue
			}
			b.stats.Subjects.Add(-1)
		}
		delete(b.idle, subject)
		delete(b.interest, subject)
	}
}
