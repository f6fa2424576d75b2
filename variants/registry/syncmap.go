package registry

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gpush/gpush/core"
)

// SyncMap is the registry for reads far more frequent than writes. A push
// takes no lock: the topic index is a sync.Map of core.Sub -> snapshot, an
// immutable slice of the subscribers behind an atomic pointer, which Each
// loads once and walks; the every-connection set is a sync.Map of its own,
// walked with Range.
//
// The price is paid by writers: a subscribe or unsubscribe copies the
// topic's slice under that topic's lock, O(n) in its subscribers (a
// subscribe to a topic of 10,000 connections copies 80 KB), and leaves the
// old slice to the garbage collector. Writers to different topics do not
// wait for each other; writers to one hot topic do. Adding or removing a
// connection is O(1). A walk sees the subscribers as of its start, and a
// broadcast sees a connection added or removed during it or not.
type SyncMap struct {
	subs sync.Map     // core.Sub -> *snapshot
	all  sync.Map     // *core.Conn -> struct{}
	n    atomic.Int64 // connections in all
}

// snapshot is the subscriber set of one core.Sub: readers load cur without
// a lock; writers replace it with a modified copy under mu.
type snapshot struct {
	cur atomic.Pointer[[]*core.Conn] // never modified once stored

	mu   sync.Mutex // serialises writers; guards dead
	dead bool       // emptied and dropped from SyncMap.subs: writers retry
}

// NewSyncMap returns an empty SyncMap registry.
func NewSyncMap() *SyncMap { return &SyncMap{} }

// Add implements core.Registry.
func (m *SyncMap) Add(c *core.Conn) {
	if _, loaded := m.all.LoadOrStore(c, struct{}{}); !loaded {
		m.n.Add(1)
	}
}

// Remove implements core.Registry.
func (m *SyncMap) Remove(c *core.Conn, subs []core.Sub) {
	for _, s := range subs {
		m.Unsubscribe(s, c)
	}
	if _, loaded := m.all.LoadAndDelete(c); loaded {
		m.n.Add(-1)
	}
}

// Subscribe implements core.Registry.
func (m *SyncMap) Subscribe(s core.Sub, c *core.Conn) {
	for {
		v, ok := m.subs.Load(s)
		if !ok {
			v, _ = m.subs.LoadOrStore(s, new(snapshot))
		}
		if v.(*snapshot).add(c) {
			return
		}
		// The snapshot was emptied, and its remover has not dropped it from
		// the map yet (it may be preempted there): replace it rather than
		// spin on it, on what may be an event loop.
		fresh := new(snapshot)
		fresh.add(c)
		if m.subs.CompareAndSwap(s, v, fresh) {
			return
		}
	}
}

// Unsubscribe implements core.Registry.
func (m *SyncMap) Unsubscribe(s core.Sub, c *core.Conn) {
	v, ok := m.subs.Load(s)
	if !ok {
		return
	}
	set := v.(*snapshot)
	if set.remove(c) {
		m.subs.CompareAndDelete(s, set)
	}
}

// Each implements core.Registry.
func (m *SyncMap) Each(t core.Target, s core.Sub, fn func(*core.Conn)) int {
	if t == core.TargetAll {
		n := 0
		m.all.Range(func(k, _ any) bool {
			fn(k.(*core.Conn))
			n++
			return true
		})
		return n
	}
	v, ok := m.subs.Load(s)
	if !ok {
		return 0
	}
	p := v.(*snapshot).cur.Load()
	if p == nil {
		return 0
	}
	for _, c := range *p {
		fn(c)
	}
	return len(*p)
}

// Len implements core.Registry.
func (m *SyncMap) Len() int { return int(m.n.Load()) }

// add stores a copy of the set with c in it. It reports false, changing
// nothing, when the snapshot is dead.
func (set *snapshot) add(c *core.Conn) bool {
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.dead {
		return false
	}
	var old []*core.Conn
	if p := set.cur.Load(); p != nil {
		old = *p
	}
	if slices.Contains(old, c) {
		return true
	}
	next := make([]*core.Conn, len(old), len(old)+1)
	copy(next, old)
	next = append(next, c)
	set.cur.Store(&next)
	return true
}

// remove stores a copy of the set without c. When that leaves it empty it
// marks the snapshot dead and reports true: the caller drops it from the
// map.
func (set *snapshot) remove(c *core.Conn) (dead bool) {
	set.mu.Lock()
	defer set.mu.Unlock()
	p := set.cur.Load()
	if set.dead || p == nil {
		return false
	}
	i := slices.Index(*p, c)
	if i < 0 {
		return false
	}
	if len(*p) == 1 {
		set.dead = true
		set.cur.Store(nil)
		return true
	}
	next := make([]*core.Conn, 0, len(*p)-1)
	next = append(next, (*p)[:i]...)
	next = append(next, (*p)[i+1:]...)
	set.cur.Store(&next)
	return false
}
