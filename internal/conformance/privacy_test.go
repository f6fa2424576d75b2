package conformance

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// pausingRegistry wraps a variant's registry. Armed, the next walk of one
// target collects its connections, stops (holding no lock) until resumed,
// and only then offers the frame to each: a walk delayed by preemption, a
// garbage collection or a long fan-out, which any registry may suffer
// between finding a connection and queueing its frame.
type pausingRegistry struct {
	core.Registry
	armed atomic.Pointer[pause]
}

// pause is one armed walk: reached is closed when the walk has collected
// its connections, and the walk goes on once resume is closed.
type pause struct {
	t       core.Target
	s       core.Sub
	reached chan struct{}
	resume  chan struct{}
}

func (r *pausingRegistry) arm(t core.Target, s core.Sub) *pause {
	p := &pause{t: t, s: s, reached: make(chan struct{}), resume: make(chan struct{})}
	r.armed.Store(p)
	return p
}

// Each implements core.Registry.
func (r *pausingRegistry) Each(t core.Target, s core.Sub, fn func(*core.Conn)) int {
	p := r.armed.Load()
	if p == nil || p.t != t || p.s != s || !r.armed.CompareAndSwap(p, nil) {
		return r.Registry.Each(t, s, fn)
	}
	var found []*core.Conn
	r.Registry.Each(t, s, func(c *core.Conn) { found = append(found, c) })
	close(p.reached)
	<-p.resume
	for _, c := range found {
		fn(c)
	}
	return len(found)
}

// wait waits for the armed walk to reach its pause.
func (p *pause) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.reached:
	case <-time.After(5 * time.Second):
		require.FailNow(t, "the push never walked the registry")
	}
}

// TestLateWalk (docs/protocol.md, Delivery; issue 11 item 1): a frame is queued
// to a connection only if, at that moment, it holds the subscription, as
// that user. A push to alice's private channel finds connections X and V
// and is held up; V logs in as bob and subscribes to bob's channel of the
// same name; the push goes on: X gets it, V never does. Likewise a public
// push held up across an unsubscribe never arrives after its reply. Run
// against every variant, so against every registry.
func TestLateWalk(t *testing.T) {
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			reg := &pausingRegistry{}
			s := st.Start(t, v, func(c *server.Config) {
				c.JWTSecret = secret
				c.WrapRegistry = func(inner core.Registry) core.Registry { reg.Registry = inner; return reg }
			})
			t.Run("relogin", func(t *testing.T) { testLateRelogin(t, s, reg) })
			t.Run("unsubscribe", func(t *testing.T) { testLateUnsubscribe(t, s, reg) })
		})
	}
}

func testLateRelogin(t *testing.T, s *st.Server, reg *pausingRegistry) {
	x, v := s.Dial(t), s.Dial(t)
	for _, c := range []*st.Client{x, v} {
		login(t, c, "alice")
		ok(t, c.Request(5, "orders", "", 1), 5)
	}
	p := reg.arm(core.TargetUser, core.Sub{UID: "alice", Topic: "orders"})
	pushed := make(chan error, 1)
	go func() { pushed <- s.PushGRPC("alice", "orders", []byte("alice-secret"), "") }()
	p.wait(t)
	login(t, v, "bob") // logs alice out first
	ok(t, v.Request(5, "orders", "", 2), 5)
	close(p.resume)
	require.NoError(t, <-pushed)
	require.NoError(t, s.PushGRPC("bob", "orders", []byte("bob-own"), ""))
	require.NoError(t, s.PushGRPC("", "", []byte("marker"), ""))

	assert.Equal(t, "alice-secret", string(x.Read().Data), "alice's connection gets her push")
	assert.Equal(t, "marker", string(x.Read().Data))
	assert.Equal(t, "bob-own", string(v.Read().Data), "V, now bob, never gets alice's private push")
	assert.Equal(t, "marker", string(v.Read().Data))
}

func testLateUnsubscribe(t *testing.T, s *st.Server, reg *pausingRegistry) {
	c := s.Dial(t)
	ok(t, c.Request(1, "news", "", 1), 1)
	p := reg.arm(core.TargetTopic, core.Sub{Topic: "news"})
	pushed := make(chan error, 1)
	go func() { pushed <- s.PushGRPC("", "news", []byte("late"), "") }()
	p.wait(t)
	ok(t, c.Request(2, "news", "", 2), 2)
	close(p.resume)
	require.NoError(t, <-pushed)
	require.NoError(t, s.PushGRPC("", "", []byte("marker"), ""))
	assert.Equal(t, "marker", string(c.Read().Data), "no push of a channel arrives after its unsubscribe reply")
}
