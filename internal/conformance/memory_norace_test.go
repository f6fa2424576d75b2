//go:build !race

package conformance

import (
	"context"
	"net"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// TestQueueMemory (PROTOCOL.md, Limits; issue 11 item 3): the queue limit
// is a memory limit. A client that never reads is pushed empty frames (2
// bytes each on the wire, the worst case for bookkeeping) until it is
// closed as a slow consumer; the server's heap, sampled after a collection
// every 1,000 pushes, never grows by more than 1.25 x max-queued (it grew
// by 20.5 x when only frame bytes were counted).
func TestQueueMemory(t *testing.T) {
	const maxQueued = 1 << 20
	v := variants.Default
	s := st.Start(t, v, func(c *server.Config) {
		c.Limits.MaxQueued = maxQueued
		c.PushFormat = "raw"
	})
	r := s.DialRaw(t)
	require.NoError(t, r.NC.(*net.TCPConn).SetReadBuffer(4<<10))
	ok(t, rawRequest(t, r, `{"code":1,"topic":"m"}`), 1)
	base := heapNow()
	peak := uint64(0)
	empty := core.Push{Topic: "m"}
	for pushes := 0; s.Hub().Stats().SlowConsumers.Load() == 0; {
		require.Less(t, pushes, 20_000_000, "the slow consumer was never closed")
		for range 1_000 {
			require.NoError(t, s.Hub().Publish(context.Background(), empty))
		}
		pushes += 1_000
		peak = max(peak, heapNow())
	}
	growth := int64(peak) - int64(base)
	t.Logf("%s: heap at most %d bytes above the start while the queue filled (max-queued %d: %.2fx)", v, growth, maxQueued, float64(growth)/maxQueued)
	assert.LessOrEqual(t, growth, int64(maxQueued*5/4), "a connection's queue holds at most 1.25 x max-queued")
}

// heapNow is the live heap after a collection.
func heapNow() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
