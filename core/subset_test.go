package core

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unique"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSubSet adds and removes random subscriptions and checks the set
// against a map after every step: membership, count, and the keys listed
// (the first inline, the rest behind its pointer, which goes when empty).
// First, sets of each shape: none holds noKey, though an empty set's first
// is noKey.
func TestSubSet(t *testing.T) {
	keys := make([]unique.Handle[Sub], 6)
	for i := range keys {
		keys[i] = subKey(Sub{Topic: fmt.Sprint("t", i)})
	}
	for _, tc := range []struct {
		name string
		add  int // keys added
	}{{"empty", 0}, {"first only", 1}, {"first and rest", 3}} {
		var s subSet
		for _, k := range keys[:tc.add] {
			s.add(k)
		}
		require.Equal(t, tc.add, s.len(), "%s: len", tc.name)
		assert.False(t, s.has(noKey), "%s: has noKey", tc.name)
		assert.False(t, s.remove(noKey), "%s: remove noKey", tc.name)
		assert.Equal(t, tc.add, s.len(), "%s: removing noKey removes nothing", tc.name)
		assert.Equal(t, tc.add > 0, s.has(keys[0]), "%s: has its first key", tc.name)
	}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 2))
		var s subSet
		model := map[unique.Handle[Sub]]bool{}
		for step := range 200 {
			k := keys[rng.IntN(len(keys))]
			if rng.IntN(2) == 0 && !model[k] {
				s.add(k)
				model[k] = true
			} else {
				assert.Equal(t, model[k], s.remove(k), "seed %d step %d: remove reports whether it held the key", seed, step)
				delete(model, k)
			}
			require.Equal(t, len(model), s.len(), "seed %d step %d: len", seed, step)
			assert.ElementsMatch(t, mapKeys(model), s.keys(), "seed %d step %d: keys", seed, step)
			for _, k := range keys {
				assert.Equal(t, model[k], s.has(k), "seed %d step %d: has %v", seed, step, k.Value())
			}
			assert.Equal(t, len(model) > 1, s.rest != nil, "seed %d step %d: a list only beyond the first", seed, step)
		}
	}
}

func mapKeys(m map[unique.Handle[Sub]]bool) []unique.Handle[Sub] {
	keys := []unique.Handle[Sub]{}
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}
