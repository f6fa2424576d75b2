package policy

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gpush/gpush/core"
)

// BenchmarkFanout measures encode-once fan-out: each op is one broadcast
// (64-byte payload) that Hub.Deliver encodes once and queues for every
// connection of a Sharded registry; in-memory links drain each outbox with
// Peek and Advance as a transport would. The timer stops once every byte is
// written, so a batched run includes its last flush. Per delivery (one
// frame to one connection):
//
//	ns/delivery      wall time
//	allocs/delivery  heap allocations, every goroutine's (runtime.MemStats)
//	writes/delivery  Peek calls that returned data: a transport's write(v) calls
func BenchmarkFanout(b *testing.B) {
	policies := []struct {
		name string
		make func(testing.TB) core.Policy
	}{
		{"immediate", func(testing.TB) core.Policy { return Immediate{} }},
		{"batched", func(tb testing.TB) core.Policy { return newBatched(tb, BatchConfig{}) }},
	}
	for _, p := range policies {
		for _, conns := range []int{10000} {
			b.Run("policy="+p.name+"/conns="+strconv.Itoa(conns), func(b *testing.B) {
				benchFanout(b, p.make(b), conns)
			})
		}
	}
}

func benchFanout(b *testing.B, p core.Policy, conns int) {
	f := newFanout(b, p, conns, false)
	msg := core.Push{Data: bytes.Repeat([]byte("d"), 64)}
	want := int64(b.N) * int64(conns) * int64(len(core.FormatJSON.Encode(msg)))
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if n := f.hub.Deliver(msg); n != conns {
			b.Fatalf("Deliver reached %d connections, want %d", n, conns)
		}
	}
	for f.all.bytes.Load() < want {
		time.Sleep(50 * time.Microsecond)
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	if got := f.all.bytes.Load(); got != want {
		b.Fatalf("wrote %d bytes, want %d", got, want)
	}
	deliveries := float64(b.N) * float64(conns)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/deliveries, "allocs/delivery")
	b.ReportMetric(float64(f.all.writes.Load())/deliveries, "writes/delivery")
}
