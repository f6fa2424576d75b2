// Package registry holds the connection registries, one variant axis:
// Global (one lock), Sharded (N locks) and SyncMap (sync.Map, for reads far
// more frequent than writes). Each implements core.Registry.
package registry

import "github.com/gpush/gpush/core"

// conns is a set of connections.
type conns map[*core.Conn]struct{}

// index is the unlocked core of every registry: every connection and every
// subscription. Callers hold the lock that guards it.
type index struct {
	all  conns
	subs map[core.Sub]conns
}

func newIndex() index {
	return index{all: make(conns), subs: make(map[core.Sub]conns)}
}

func (x *index) subscribe(s core.Sub, c *core.Conn) {
	set := x.subs[s]
	if set == nil {
		set = make(conns, 1)
		x.subs[s] = set
	}
	set[c] = struct{}{}
}

func (x *index) unsubscribe(s core.Sub, c *core.Conn) {
	set := x.subs[s]
	delete(set, c)
	if len(set) == 0 {
		delete(x.subs, s)
	}
}

// each calls fn for every member of the target set.
func (x *index) each(t core.Target, s core.Sub, fn func(*core.Conn)) int {
	set := x.all
	if t != core.TargetAll {
		set = x.subs[s]
	}
	for c := range set {
		fn(c)
	}
	return len(set)
}
