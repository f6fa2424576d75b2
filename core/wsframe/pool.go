package wsframe

import (
	"math/bits"
	"sync"
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
