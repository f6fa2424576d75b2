package registry

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
)

// TestConnSetRandom drives a connSet and a map with the same random adds
// and removes (removals close gaps by moving entries back, and the table
// grows and shrinks) and checks after each step that both hold the same
// members.
func TestConnSetRandom(t *testing.T) {
	cs := newConns(t, 300)
	rng := rand.New(rand.NewPCG(1, 2))
	var s connSet
	ref := map[*core.Conn]bool{}
	for step := range 20000 {
		c := cs[rng.IntN(len(cs))]
		if rng.IntN(3) == 0 || step > 15000 { // drain at the end: the table shrinks
			s.remove(c)
			delete(ref, c)
		} else {
			s.add(c)
			ref[c] = true
		}
		require.Equal(t, len(ref), s.n, "step %d", step)
		require.LessOrEqual(t, s.n*8, len(s.slots)*7, "load above 7/8 at step %d", step)
		require.Zero(t, len(s.slots)&(len(s.slots)-1), "table not a power of two")
		for _, c := range cs[:20] {
			require.Equal(t, ref[c], s.find(c) >= 0, "step %d, conn %d", step, c.ID())
		}
	}
	seen := map[*core.Conn]bool{}
	s.each(func(c *core.Conn) { seen[c] = true })
	assert.Equal(t, ref, seen)
	assert.LessOrEqual(t, len(s.slots), 8*max(s.n, 1), "an emptied set gives its table back")
}

// TestConnSetEach checks that each visits every member once after the
// members joined and half of them left.
func TestConnSetEach(t *testing.T) {
	cs := newConns(t, 1000)
	var s connSet
	for _, c := range cs {
		s.add(c)
	}
	for i := 0; i < len(cs); i += 2 {
		c := cs[i]
		s.remove(c)
	}
	seen := map[uint64]int{}
	s.each(func(c *core.Conn) { seen[c.ID()]++ })
	require.Len(t, seen, 500)
	for i, c := range cs {
		assert.Equal(t, i%2, seen[c.ID()], "conn %d", i)
	}
}
