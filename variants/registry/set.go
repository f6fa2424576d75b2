// Package registry holds the connection registries, one variant axis:
// Global (one lock), Sharded (N locks) and SyncMap (sync.Map, for reads far
// more frequent than writes). Each implements core.Registry.
package registry

import (
	"math/bits"

	"github.com/gpush/gpush/core"
)

// connSet is a set of connections: an open-addressing hash table of
// pointers with linear probing, hashed by connection ID. An entry is one
// 8-byte slot at a load of up to 7/8: a map[*core.Conn]struct{} spends a
// 16-byte slot (the empty value pads it) and a control byte per entry, at
// a lower load, twice the memory per idle connection. IDs are sequential
// and Fibonacci hashing spreads them evenly, so the probes stay short at
// that load. The zero value is an empty set; it is not safe for concurrent
// use.
type connSet struct {
	slots []*core.Conn // nil or a power of two long
	n     int          // entries
}

// minSlots is the smallest table.
const minSlots = 2

// home is where c's probe starts in a table of mask+1 slots.
func home(c *core.Conn, mask int) int {
	return int((c.ID()*0x9E3779B97F4A7C15)>>32) & mask
}

// add puts c in the set.
func (s *connSet) add(c *core.Conn) {
	if (s.n+1)*8 > len(s.slots)*7 {
		s.resize(max(minSlots, 2*len(s.slots)))
	}
	mask := len(s.slots) - 1
	for i := home(c, mask); ; i = (i + 1) & mask {
		switch s.slots[i] {
		case nil:
			s.slots[i] = c
			s.n++
			return
		case c:
			return
		}
	}
}

// remove takes c out of the set and closes the gap behind it (no
// tombstones: a later entry whose probe passed the gap moves into it).
func (s *connSet) remove(c *core.Conn) {
	i := s.find(c)
	if i < 0 {
		return
	}
	mask := len(s.slots) - 1
	for j := (i + 1) & mask; s.slots[j] != nil; j = (j + 1) & mask {
		if (j-home(s.slots[j], mask))&mask >= (j-i)&mask {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = nil
	s.n--
	if s.n*8 < len(s.slots) && len(s.slots) > minSlots {
		s.resize(len(s.slots) / 2)
	}
}

// find returns c's slot, or -1.
func (s *connSet) find(c *core.Conn) int {
	if s.n == 0 {
		return -1
	}
	mask := len(s.slots) - 1
	for i := home(c, mask); s.slots[i] != nil; i = (i + 1) & mask {
		if s.slots[i] == c {
			return i
		}
	}
	return -1
}

// resize rehashes into a table of size slots (a power of two).
func (s *connSet) resize(size int) {
	old := s.slots
	s.slots = make([]*core.Conn, 1<<bits.Len(uint(size-1)))
	s.n = 0
	for _, c := range old {
		if c != nil {
			s.add(c)
		}
	}
}

// each calls fn for every member.
func (s *connSet) each(fn func(*core.Conn)) {
	for _, c := range s.slots {
		if c != nil {
			fn(c)
		}
	}
}

// index is the unlocked core of every registry: every connection and every
// subscription. Callers hold the lock that guards it.
type index struct {
	all  connSet
	subs map[core.Sub]*connSet
}

func newIndex() index {
	return index{subs: make(map[core.Sub]*connSet)}
}

func (x *index) subscribe(s core.Sub, c *core.Conn) {
	set := x.subs[s]
	if set == nil {
		set = &connSet{}
		x.subs[s] = set
	}
	set.add(c)
}

func (x *index) unsubscribe(s core.Sub, c *core.Conn) {
	set := x.subs[s]
	if set == nil {
		return
	}
	set.remove(c)
	if set.n == 0 {
		delete(x.subs, s)
	}
}

// each calls fn for every member of the target set.
func (x *index) each(t core.Target, s core.Sub, fn func(*core.Conn)) int {
	set := &x.all
	if t != core.TargetAll {
		set = x.subs[s]
		if set == nil {
			return 0
		}
	}
	set.each(fn)
	return set.n
}
