package registry

import (
	"hash/maphash"
	"runtime"

	"github.com/gpush/gpush/core"
)

// Sharded splits the index over N independently locked shards. A
// connection and its public subscriptions live in the shard of its id; its
// private subscriptions live in the shard of its user id, so a private push
// looks in one shard only, while a public push or a broadcast visits every
// shard.
type Sharded struct {
	shards []Global
	seed   maphash.Seed
}

// NewSharded returns a registry of n shards (n <= 0: 4 x GOMAXPROCS).
func NewSharded(n int) *Sharded {
	if n <= 0 {
		n = 4 * runtime.GOMAXPROCS(0)
	}
	s := &Sharded{shards: make([]Global, n), seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].x = newIndex()
	}
	return s
}

// shard returns the shard that holds s for connection c.
func (r *Sharded) shard(s core.Sub, c *core.Conn) *Global {
	if s.UID != "" {
		return r.userShard(s.UID)
	}
	return &r.shards[c.ID()%uint64(len(r.shards))]
}

func (r *Sharded) userShard(uid string) *Global {
	return &r.shards[maphash.String(r.seed, uid)%uint64(len(r.shards))]
}

// Add implements core.Registry.
func (r *Sharded) Add(c *core.Conn) { r.shards[c.ID()%uint64(len(r.shards))].Add(c) }

// Remove implements core.Registry.
func (r *Sharded) Remove(c *core.Conn, subs []core.Sub) {
	for _, s := range subs {
		r.shard(s, c).Unsubscribe(s, c)
	}
	r.shards[c.ID()%uint64(len(r.shards))].Remove(c, nil)
}

// Subscribe implements core.Registry.
func (r *Sharded) Subscribe(s core.Sub, c *core.Conn) { r.shard(s, c).Subscribe(s, c) }

// Unsubscribe implements core.Registry.
func (r *Sharded) Unsubscribe(s core.Sub, c *core.Conn) { r.shard(s, c).Unsubscribe(s, c) }

// Each implements core.Registry.
func (r *Sharded) Each(t core.Target, s core.Sub, fn func(*core.Conn)) int {
	if t == core.TargetUser {
		return r.userShard(s.UID).Each(t, s, fn)
	}
	n := 0
	for i := range r.shards {
		n += r.shards[i].Each(t, s, fn)
	}
	return n
}

// Len implements core.Registry.
func (r *Sharded) Len() int {
	n := 0
	for i := range r.shards {
		n += r.shards[i].Len()
	}
	return n
}
