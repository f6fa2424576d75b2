package core

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestKickerLosesNoKick: whatever was queued before a Kick is flushed after
// it, by the kicker or by the writer that held the lock, and flushes never
// overlap.
func TestKickerLosesNoKick(t *testing.T) {
	var (
		k        Kicker
		queued   atomic.Int64 // what kickers queued
		flushed  atomic.Int64 // what the last flush saw
		inflight atomic.Int32
		overlap  atomic.Bool
		wg       sync.WaitGroup
	)
	flush := func() {
		if inflight.Add(1) > 1 {
			overlap.Store(true)
		}
		flushed.Store(queued.Load())
		inflight.Add(-1)
	}
	const kickers, kicks = 8, 2000
	for range kickers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range kicks {
				queued.Add(1)
				k.Kick(flush)
			}
		}()
	}
	wg.Wait()
	assert.False(t, overlap.Load(), "one writer at a time")
	assert.Equal(t, int64(kickers*kicks), flushed.Load(), "the last flush saw every kick's queue")
}

func TestKickerHeldLeavesWorkToHolder(t *testing.T) {
	var k Kicker
	calls := 0
	k.Lock() // a transport keeps writers out while it sets up the socket
	k.Kick(func() { calls++ })
	assert.Zero(t, calls, "a kick while the lock is held does not wait")
	k.Unlock()
	k.Kick(func() { calls++ })
	assert.Equal(t, 1, calls, "the next kick flushes")
}
