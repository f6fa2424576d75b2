package cluster

import (
	"context"
	"sync"
)

// barrier confirms what a link has sent with as few round trips as the load
// allows: a waiter joins the next round, which starts after the one in flight
// (if any) and so after everything the waiter sent; one round trip releases
// every waiter of its round.
type barrier struct {
	flush func() error // one round trip to the broker

	mu      sync.Mutex // guards next and running
	next    *round     // the round that starts after the one in flight
	running bool       // a goroutine is running rounds
}

type round struct {
	done chan struct{}
	err  error // set before done is closed
}

// wait returns once a round trip that began after the call confirmed, or
// with the round's error, or with ctx's.
func (b *barrier) wait(ctx context.Context) error {
	b.mu.Lock()
	r := b.next
	if r == nil {
		r = &round{done: make(chan struct{})}
		b.next = r
	}
	if !b.running {
		b.running = true
		go b.run()
	}
	b.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run makes round trips while waiters keep joining, then ends.
func (b *barrier) run() {
	for {
		b.mu.Lock()
		r := b.next
		b.next = nil
		if r == nil {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		r.err = b.flush()
		close(r.done)
	}
}
