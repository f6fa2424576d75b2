package wsframe

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// Accumulation buffers for incomplete frames and fragmented messages come
// from size-classed pools: powers of two from 256 B to 64 MiB. A larger
// request (only with MaxMessage over 64 MiB) is allocated and not pooled.
const (
	minClassShift = 8
	maxClassShift = 26
)

var pools [maxClassShift - minClassShift + 1]sync.Pool

// sizeClass returns the pool index for a buffer of at least n bytes, or -1
// when n is over the largest class.
func sizeClass(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > maxClassShift {
		return -1
	}
	return shift - minClassShift
}

// getBuf returns an empty buffer with capacity of at least n.
func getBuf(n int) *[]byte {
	c := sizeClass(n)
	if c < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	if v := pools[c].Get(); v != nil {
		return v.(*[]byte)
	}
	b := make([]byte, 0, 1<<(c+minClassShift))
	return &b
}

// putBuf gives b back to its pool.
func putBuf(b *[]byte) {
	c := sizeClass(cap(*b))
	if c < 0 || cap(*b) != 1<<(c+minClassShift) {
		return
	}
	*b = (*b)[:0]
	pools[c].Put(b)
}

// gauge counts what partial frames and messages hold, across the process.
var gauge struct {
	parked  atomic.Int64 // Parsers taken from parkPool
	buffers atomic.Int64 // accumulation buffers that Parsers hold
}

// Holding is what partial frames and messages hold at one moment, across
// every Parser of the process: a gauge for a server to report, which goes
// back to where it was when its connections finish or close their frames.
// A Parser dropped without Reset, or a Parked without Release, while it
// holds state stays counted.
type Holding struct {
	Parked  int64 // pooled Parsers holding a Parked's partial state
	Buffers int64 // accumulation buffers held by Parsers, parked or working
}

// Held returns what partial frames and messages hold now.
func Held() Holding {
	return Holding{Parked: gauge.parked.Load(), Buffers: gauge.buffers.Load()}
}
