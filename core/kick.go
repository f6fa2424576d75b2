package core

import (
	"sync"
	"sync/atomic"
)

// Kicker is the kick loop of a transport whose writers never block (epoll,
// nbio): the goroutine that kicks writes what is queued, unless another is
// writing already, which then writes that too. Its mutex is the one-writer
// lock: the transport may hold it to keep writers out while it sets up or
// closes the socket. See docs/locking.md.
type Kicker struct {
	sync.Mutex
	kicked atomic.Bool // output is waiting for a writer
}

// Kick runs flush under the lock, again for as long as kicks came meanwhile,
// or leaves the work to the goroutine that holds the lock.
func (k *Kicker) Kick(flush func()) {
	k.kicked.Store(true)
	for k.TryLock() {
		k.kicked.Store(false)
		flush()
		k.Unlock()
		if !k.kicked.Load() {
			return
		}
	}
}
