package harness

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// Hist is a log-linear latency histogram in microseconds, safe for
// concurrent Record: exact below 64 us, then 32 buckets per power of two
// (about 3% resolution) up to hours. It merges by adding counts, so the
// generators send theirs to the runner.
type Hist struct {
	counts [histBuckets]atomic.Uint64
}

const histBuckets = 64 + 40*32

// histIndex maps a value to its bucket.
func histIndex(us uint64) int {
	if us < 64 {
		return int(us)
	}
	e := bits.Len64(us) - 6 // us>>e is in [32, 64)
	i := 64 + (e-1)*32 + int(us>>e) - 32
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histValue is the upper bound of bucket i.
func histValue(i int) uint64 {
	if i < 64 {
		return uint64(i)
	}
	e := (i-64)/32 + 1
	m := uint64((i-64)%32 + 32)
	return (m+1)<<e - 1
}

// Record adds one value.
func (h *Hist) Record(us uint64) { h.counts[histIndex(us)].Add(1) }

// Counts returns the non-zero buckets, for sending.
func (h *Hist) Counts() map[int]uint64 {
	m := make(map[int]uint64)
	for i := range h.counts {
		if n := h.counts[i].Load(); n > 0 {
			m[i] = n
		}
	}
	return m
}

// Reset zeroes every bucket.
func (h *Hist) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
}

// Merged is a histogram summed from several generators.
type Merged map[int]uint64

// Add sums counts into m.
func (m Merged) Add(c map[int]uint64) {
	for i, n := range c {
		m[i] += n
	}
}

// Total is the number of values.
func (m Merged) Total() uint64 {
	var t uint64
	for _, n := range m {
		t += n
	}
	return t
}

// Quantile returns the value at q (0..1) in milliseconds, NaN when empty.
func (m Merged) Quantile(q float64) float64 {
	total := m.Total()
	if total == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(total)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i := 0; i < histBuckets; i++ {
		seen += m[i]
		if seen >= rank {
			return float64(histValue(i)) / 1000
		}
	}
	return math.NaN()
}
