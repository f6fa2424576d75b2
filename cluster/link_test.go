package cluster

import (
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/internal/natstest"
	"github.com/gpush/gpush/variants/policy"
	"github.com/gpush/gpush/variants/registry"
)

// freezer is a TCP proxy in front of a real NATS server that can stop
// forwarding in both directions while keeping the sockets open: a broker
// that went silent (a partition, a hung server).
type freezer struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen bool
	conns  []net.Conn
}

func newFreezer(t *testing.T, upstream string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &freezer{ln: ln}
	go f.accept(upstream)
	t.Cleanup(f.close)
	return f
}

func (f *freezer) accept(upstream string) {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", upstream)
		if err != nil {
			c.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, c, u)
		f.mu.Unlock()
		go f.pipe(c, u)
		go f.pipe(u, c)
	}
}

// pipe copies src to dst until either closes; frozen bytes are dropped.
func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			dst.Close()
			return
		}
		f.mu.Lock()
		frozen := f.frozen
		f.mu.Unlock()
		if !frozen {
			if _, err := dst.Write(buf[:n]); err != nil {
				src.Close()
				return
			}
		}
	}
}

func (f *freezer) freeze() {
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
}

func (f *freezer) close() {
	f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
}

// TestSilentBrokerIsNoticed: a broker that stops answering (its socket stays
// open) is noticed within three ping intervals: the link goes down, pushes
// and subscribes fail with ErrUnavailable, and the node dials again.
func TestSilentBrokerIsNoticed(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ns := natstest.Start(t)
	px := newFreezer(t, ns.Addr().String())
	hub := core.NewHub(core.Config{Registry: registry.NewSharded(4), Policy: policy.Immediate{}})
	defer hub.Close()
	const ping = 100 * time.Millisecond
	b, err := New(Config{URLs: []string{"nats://" + px.ln.Addr().String()}, PingInterval: ping,
		RetryWait: 200 * time.Millisecond, ConfirmTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	b.Start(hub)
	defer b.Close()
	require.Eventually(t, b.Up, 5*time.Second, time.Millisecond, "link up through the proxy")
	px.freeze()
	frozen := time.Now()
	require.Eventually(t, func() bool { return !b.Up() }, 20*ping, time.Millisecond, "a silent broker is noticed")
	t.Logf("silent broker noticed after %v (ping interval %v)", time.Since(frozen).Round(time.Millisecond), ping)
	assert.LessOrEqual(t, time.Since(frozen), 6*ping, "within three unanswered pings (twice that for a loaded machine)")
	assert.ErrorIs(t, b.Publish(t.Context(), []core.Push{{Topic: "t", Data: []byte("x")}}), core.ErrUnavailable)
	assert.ErrorIs(t, b.Acquire(t.Context(), core.Sub{Topic: "t"}), core.ErrUnavailable)
	assert.Equal(t, int64(1), b.Stats().Losses.Load())
	b.Close()
	px.close()
	ns.Stop()
}

// TestDroppedPushesAreALinkLoss: when the node's receive queue overflows and
// NATS drops pushes for it, the node treats it as a link loss: it dials
// again, and every connection is resynced once the new link is in force.
func TestDroppedPushesAreALinkLoss(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ns := natstest.Start(t)
	hub := core.NewHub(core.Config{Registry: registry.NewSharded(4), Policy: policy.Immediate{}})
	defer hub.Close()
	b, err := New(Config{URLs: []string{ns.URL()}, Queue: 4, RetryWait: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	b.Start(hub)
	defer b.Close()
	require.Eventually(t, b.Up, 5*time.Second, time.Millisecond, "link up")
	flood, err := nats.Connect(ns.URL())
	require.NoError(t, err)
	for range 20000 { // far faster than one goroutine delivers through a queue of 4
		require.NoError(t, flood.Publish(DefaultPrefix+".all", []byte("x")))
	}
	require.NoError(t, flood.Flush())
	flood.Close()
	require.Eventually(t, func() bool { return b.Stats().Reconnects.Load() >= 1 && b.Up() }, 10*time.Second, time.Millisecond,
		"the node dialled again after the drop")
	st := b.Stats()
	assert.Positive(t, st.SlowDrops.Load(), "NATS dropped pushes")
	assert.Positive(t, st.Losses.Load(), "counted as a link loss")
	assert.Positive(t, hub.Stats().Resyncs.Load(), "every connection resynced")
	assert.Less(t, st.Received.Load(), int64(20000), "not everything was delivered")
	b.Close()
	ns.Stop()
}
