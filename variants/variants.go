// Package variants names every server variant: one transport x one registry
// x one write policy, assembled here from one package per axis, never by
// copying code. A name reads <transport>-<registry>-<writes>.
package variants

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/variants/epoll"
	"github.com/gpush/gpush/variants/gorilla"
	"github.com/gpush/gpush/variants/gws"
	"github.com/gpush/gpush/variants/nbio"
	"github.com/gpush/gpush/variants/registry"
	"github.com/gpush/gpush/variants/writer"
)

// Transport accepts WebSocket upgrades and serves the connections.
type Transport interface {
	// Upgrade takes over one HTTP request that asks for a WebSocket.
	Upgrade(w http.ResponseWriter, r *http.Request)
	// Close stops the transport's goroutines; connections are closed by the
	// hub's Drain before.
	Close() error
}

// Options are the settings the axes take.
type Options struct {
	Shards        int           // registry shards (0: 4 x GOMAXPROCS)
	FlushInterval time.Duration // batched writes (0: 10 ms)
	FlushBytes    int           // batched writes (0: 16 KiB)
}

// Variant is one named combination of the three axes.
type Variant struct {
	Name      string
	Transport func(*core.Hub) (Transport, error)
	Registry  func(Options) core.Registry
	Policy    func(Options) core.Policy
}

var transports = map[string]func(*core.Hub) (Transport, error){
	"gorilla": func(h *core.Hub) (Transport, error) { return gorilla.New(h), nil },
	"epoll":   func(h *core.Hub) (Transport, error) { return epoll.New(h) },
	"gws":     func(h *core.Hub) (Transport, error) { return gws.New(h), nil },
	"nbio":    func(h *core.Hub) (Transport, error) { return nbio.New(h) },
}

var registries = map[string]func(Options) core.Registry{
	"global":  func(Options) core.Registry { return registry.NewGlobal() },
	"sharded": func(o Options) core.Registry { return registry.NewSharded(o.Shards) },
	"syncmap": func(Options) core.Registry { return registry.NewSyncMap() },
}

var policies = map[string]func(Options) core.Policy{
	"immediate": func(Options) core.Policy { return writer.Immediate{} },
	"batched": func(o Options) core.Policy {
		return writer.NewBatched(writer.BatchConfig{Interval: o.FlushInterval, Bytes: o.FlushBytes})
	},
}

// names lists the registered combinations: the full matrix of
// {gorilla, epoll} x {global, sharded} x {immediate, batched}.
var names = [][3]string{
	{"gorilla", "global", "immediate"},
	{"gorilla", "global", "batched"},
	{"gorilla", "sharded", "immediate"},
	{"gorilla", "sharded", "batched"},
	{"epoll", "global", "immediate"},
	{"epoll", "global", "batched"},
	{"epoll", "sharded", "immediate"},
	{"epoll", "sharded", "batched"},
	{"epoll", "syncmap", "batched"},  // sync.Map registry: lock-free reads
	{"gws", "sharded", "immediate"},  // peer baseline
	{"nbio", "sharded", "immediate"}, // peer baseline
}

// Default is the variant the production server runs.
const Default = "epoll-sharded-batched"

// Names returns every registered variant name, sorted.
func Names() []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, n[0]+"-"+n[1]+"-"+n[2])
	}
	sort.Strings(out)
	return out
}

// Lookup returns the variant of that name.
func Lookup(name string) (Variant, error) {
	for _, n := range names {
		if n[0]+"-"+n[1]+"-"+n[2] == name {
			return Variant{Name: name, Transport: transports[n[0]], Registry: registries[n[1]], Policy: policies[n[2]]}, nil
		}
	}
	return Variant{}, fmt.Errorf("unknown variant %q (gpushd -variants lists them)", name)
}
