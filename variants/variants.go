// Package variants names every server variant: one transport x one registry
// x one write policy, assembled here from one package per axis, never by
// copying code. A name reads <transport>-<registry>-<writes>.
package variants

import (
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/variants/policy"
	"github.com/gpush/gpush/variants/registry"
	"github.com/gpush/gpush/variants/transport/epoll"
	"github.com/gpush/gpush/variants/transport/gorilla"
	"github.com/gpush/gpush/variants/transport/gws"
	"github.com/gpush/gpush/variants/transport/nbio"
)

// Transport serves the WebSocket port: it accepts connections from the
// listener the server hands it, upgrades them by the server's rules
// (core.Gate) and serves them. The epoll transport reads the handshakes on
// its event loops, with no goroutine per connection at any point; the
// others upgrade through net/http (viaHTTP).
type Transport interface {
	// Serve accepts from ln until it is closed, then returns nil.
	Serve(ln net.Listener, g core.Gate) error
	// Close stops the transport's goroutines; connections are closed by the
	// hub's Drain before.
	Close() error
}

var _ Transport = (*epoll.Transport)(nil)

// Options are the settings the axes take.
type Options struct {
	Shards        int           // registry shards (0: 4 x GOMAXPROCS)
	FlushInterval time.Duration // batched writes (0: 10 ms)
	FlushBytes    int           // batched writes (0: 16 KiB)
}

// Axes names a variant's value on each axis of the research.
type Axes struct {
	Transport string // gorilla, epoll, gws, nbio
	Registry  string // global, sharded, syncmap
	Policy    string // immediate, batched
}

// Name is the variant name the axes make: <transport>-<registry>-<policy>.
func (a Axes) Name() string { return a.Transport + "-" + a.Registry + "-" + a.Policy }

// Peer reports whether the transport is a third-party library measured as
// a baseline (gws, nbio) rather than one of ours.
func (a Axes) Peer() bool { return peers[a.Transport] }

// Variant is one named combination of the three axes.
type Variant struct {
	Name      string
	Axes      Axes
	Transport func(*core.Hub) (Transport, error)
	Registry  func(Options) core.Registry
	Policy    func(Options) core.Policy
}

var transports = map[string]func(*core.Hub) (Transport, error){
	"gorilla": func(h *core.Hub) (Transport, error) { return viaHTTP{gorilla.New(h)}, nil },
	"epoll":   func(h *core.Hub) (Transport, error) { return epoll.New(h) },
	"gws":     func(h *core.Hub) (Transport, error) { return viaHTTP{gws.New(h)}, nil },
	"nbio": func(h *core.Hub) (Transport, error) {
		t, err := nbio.New(h)
		if err != nil {
			return nil, err
		}
		return viaHTTP{t}, nil
	},
}

// peers are the transports built on another project's WebSocket server.
var peers = map[string]bool{"gws": true, "nbio": true}

var registries = map[string]func(Options) core.Registry{
	"global":  func(Options) core.Registry { return registry.NewGlobal() },
	"sharded": func(o Options) core.Registry { return registry.NewSharded(o.Shards) },
	"syncmap": func(Options) core.Registry { return registry.NewSyncMap() },
}

var policies = map[string]func(Options) core.Policy{
	"immediate": func(Options) core.Policy { return policy.Immediate{} },
	"batched": func(o Options) core.Policy {
		return policy.NewBatched(policy.BatchConfig{Interval: o.FlushInterval, Bytes: o.FlushBytes})
	},
}

// all lists the registered combinations: the full matrix of
// {gorilla, epoll} x {global, sharded} x {immediate, batched}, plus the
// sync.Map registry and the peer baselines.
var all = []Axes{
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

// Production is the combination the production server runs: the one place
// that choice is named.
var Production = Axes{"epoll", "sharded", "batched"}

// Default is the production variant's name.
var Default = Production.Name()

// Names returns every registered variant name, sorted.
func Names() []string {
	out := make([]string, 0, len(all))
	for _, a := range all {
		out = append(out, a.Name())
	}
	sort.Strings(out)
	return out
}

// AxesOf returns the axes of the named variant.
func AxesOf(name string) (Axes, bool) {
	for _, a := range all {
		if a.Name() == name {
			return a, true
		}
	}
	return Axes{}, false
}

// Lookup returns the variant of that name.
func Lookup(name string) (Variant, error) {
	a, ok := AxesOf(name)
	if !ok {
		return Variant{}, fmt.Errorf("unknown variant %q (gpushd -variants lists them)", name)
	}
	return Variant{Name: name, Axes: a, Transport: transports[a.Transport], Registry: registries[a.Registry], Policy: policies[a.Policy]}, nil
}
