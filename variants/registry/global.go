package registry

import (
	"sync"

	"github.com/gpush/gpush/core"
)

// Global guards the whole index with one RWMutex: the baseline.
type Global struct {
	mu sync.RWMutex // guards x
	x  index
}

// NewGlobal returns an empty Global registry.
func NewGlobal() *Global { return &Global{x: newIndex()} }

// Add implements core.Registry.
func (g *Global) Add(c *core.Conn) {
	g.mu.Lock()
	g.x.all.add(c)
	g.mu.Unlock()
}

// Remove implements core.Registry.
func (g *Global) Remove(c *core.Conn, subs []core.Sub) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range subs {
		g.x.unsubscribe(s, c)
	}
	g.x.all.remove(c)
}

// Subscribe implements core.Registry.
func (g *Global) Subscribe(s core.Sub, c *core.Conn) {
	g.mu.Lock()
	g.x.subscribe(s, c)
	g.mu.Unlock()
}

// Unsubscribe implements core.Registry.
func (g *Global) Unsubscribe(s core.Sub, c *core.Conn) {
	g.mu.Lock()
	g.x.unsubscribe(s, c)
	g.mu.Unlock()
}

// Each implements core.Registry.
func (g *Global) Each(t core.Target, s core.Sub, fn func(*core.Conn)) int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.x.each(t, s, fn)
}

// Len implements core.Registry.
func (g *Global) Len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.x.all.n
}
