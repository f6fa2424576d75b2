package core

import (
	"math/bits"
	"sync/atomic"
)

// Histogram counts observations into fixed buckets without locks: one
// atomic add for the bucket, one for the sum. Its bounds are given by the
// Stats field that holds it (BatchBounds, LatencyBounds).
type Histogram struct {
	counts [histSlots]atomic.Int64 // counts[i]: observations <= bounds[i]; the last slot: above every bound
	sum    atomic.Int64
}

const histSlots = 16

// BatchBounds are the buckets of Stats.Batch: frames per write.
var BatchBounds = []int64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}

// LatencyBounds are the buckets of Stats.Latency, in nanoseconds: from a
// frame's queueing on an idle connection to the write that empties the queue.
var LatencyBounds = []int64{1e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8, 2.5e8, 5e8, 1e9, 2.5e9, 5e9, 1e10}

func (h *Histogram) observe(bounds []int64, v int64) {
	i := 0
	for i < len(bounds) && v > bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(v)
}

// observePow2 is observe for bounds 1, 2, 4, ... (BatchBounds), without the
// search: the bucket of v is the bit length of v-1.
func (h *Histogram) observePow2(bounds []int64, v int64) {
	i := min(bits.Len64(uint64(v-1)), len(bounds))
	h.counts[i].Add(1)
	h.sum.Add(v)
}

// Snapshot returns the cumulative count at each bound, the total count and
// the sum, as Prometheus histograms want them.
func (h *Histogram) Snapshot(bounds []int64) (cumulative []uint64, count uint64, sum int64) {
	cumulative = make([]uint64, len(bounds))
	for i := range bounds {
		count += uint64(h.counts[i].Load())
		cumulative[i] = count
	}
	count += uint64(h.counts[len(bounds)].Load())
	return cumulative, count, h.sum.Load()
}
