//go:build !race

package wsframe

import (
	"testing"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFeedDoesNotAllocate(t *testing.T) {
	for _, tt := range []struct {
		name               string
		size, frags, split int
	}{
		{"whole small frames", 64, 1, 0},
		{"whole large frames", 4096, 1, 0},
		{"fragmented", 4096, 4, 0},
		{"byte by byte", 64, 1, 1},
		{"segments", 4096, 1, 1448},
	} {
		buf, _ := benchStream(tt.size, tt.frags)
		var p Parser
		h := func(ws.OpCode, []byte) error { return nil }
		require.NoError(t, feedSplit(&p, buf, tt.split, h), "%s: warm-up", tt.name)
		allocs := testing.AllocsPerRun(20, func() {
			if err := feedSplit(&p, buf, tt.split, h); err != nil {
				panic(err)
			}
		})
		assert.Zero(t, allocs, "%s: allocations per Feed of %d bytes", tt.name, len(buf))
		assert.Zero(t, p.Buffered(), "%s: idle after whole messages", tt.name)
	}
}

// Whole frames through FeedParked neither allocate nor park anything; a
// connection that parks and resumes reuses pooled state.
func TestFeedParkedDoesNotAllocate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		split int
	}{{"whole frames", 0}, {"segments", 1448}} {
		buf, _ := benchStream(4096, 1)
		var p Parser
		var k Parked
		h := func(ws.OpCode, []byte) error { return nil }
		require.NoError(t, feedParkedSplit(&p, &k, buf, tt.split, h), "%s: warm-up", tt.name)
		allocs := testing.AllocsPerRun(20, func() {
			if err := feedParkedSplit(&p, &k, buf, tt.split, h); err != nil {
				panic(err)
			}
		})
		assert.Zero(t, allocs, "%s: allocations per FeedParked of %d bytes", tt.name, len(buf))
		assert.True(t, k.Empty(), "%s: nothing parked after whole messages", tt.name)
	}
}
