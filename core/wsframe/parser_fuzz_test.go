package wsframe

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzParser feeds its input whole, cut in two at a chosen point, byte by
// byte, and byte by byte parked (FeedParked, another connection parsed
// between two bytes): the four must deliver the same messages and the same error,
// hold no more than the limits allow between calls, and never panic.
// Its seeds are the files under testdata/fuzz/FuzzParser, made from the
// vectors (see TestFuzzCorpus).
func FuzzParser(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte, cut uint16, max uint16, client bool) {
		cfg := Config{MaxMessage: int(max), Client: client}
		whole, problem := feed(cfg, in, nil)
		require.Empty(t, problem, "fed whole")

		c := int(cut) % (len(in) + 1)
		two, problem := feed(cfg, in, []int{c})
		require.Empty(t, problem, "cut at %d", c)
		assert.Equal(t, whole, two, "cut at %d: same as fed whole", c)

		cuts := make([]int, 0, len(in))
		for i := 1; i < len(in); i++ {
			cuts = append(cuts, i)
		}
		bytewise, problem := feed(cfg, in, cuts)
		require.Empty(t, problem, "byte by byte")
		assert.Equal(t, whole, bytewise, "byte by byte: same as fed whole")

		parked := feeder{parked: true}
		problem, err := parked.feed(cfg, in, cuts)
		require.Empty(t, problem, "parked, byte by byte")
		assert.Equal(t, whole, parked.result(err), "parked, byte by byte: same as fed whole")
	})
}

// fuzzSeed is one FuzzParser input.
type fuzzSeed struct {
	name   string
	in     []byte
	cut    uint16
	max    uint16
	client bool
}

// fuzzSeeds are the vectors of up to 8 KiB as fuzz inputs, cut in the
// middle.
func fuzzSeeds() []fuzzSeed {
	var seeds []fuzzSeed
	for _, v := range vectors {
		if len(v.in) > 8<<10 || v.cfg.MaxMessage > 1<<16-1 {
			continue
		}
		seeds = append(seeds, fuzzSeed{
			name: v.name, in: v.in, cut: uint16(len(v.in) / 2),
			max: uint16(v.cfg.MaxMessage), client: v.cfg.Client,
		})
	}
	return seeds
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzParser/vec-* from the vectors")

// TestFuzzCorpus keeps the seed corpus under testdata in step with the
// vectors; -update-corpus rewrites it. Inputs the fuzzer found sit beside
// the vec-* files and are replayed by go test as well.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParser")
	if *updateCorpus {
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	for _, s := range fuzzSeeds() {
		path := filepath.Join(dir, "vec-"+strings.NewReplacer("/", "-", "=", "-").Replace(s.name))
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint16(%d)\nuint16(%d)\nbool(%t)\n", s.in, s.cut, s.max, s.client)
		if *updateCorpus {
			require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		if assert.NoError(t, err, "seed file for vector %s; run go test -run TestFuzzCorpus -update-corpus", s.name) {
			assert.Equal(t, want, string(got), "seed file %s is stale; run go test -run TestFuzzCorpus -update-corpus", path)
		}
	}
}
