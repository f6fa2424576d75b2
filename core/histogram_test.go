package core

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHistogramPow2MatchesSearch(t *testing.T) {
	var a, b Histogram
	for v := int64(1); v <= 3000; v++ {
		a.observe(BatchBounds, v)
		b.observePow2(BatchBounds, v)
	}
	ca, na, sa := a.Snapshot(BatchBounds)
	cb, nb, sb := b.Snapshot(BatchBounds)
	assert.Equal(t, ca, cb, "same buckets")
	assert.Equal(t, na, nb)
	assert.Equal(t, sa, sb)
	assert.Equal(t, uint64(1), ca[0], "only 1 is <= 1")
	assert.Equal(t, uint64(1024), ca[len(ca)-1], "1..1024 are <= 1024")
	assert.Equal(t, uint64(3000), na)
}
