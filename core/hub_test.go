package core

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHubDeliverCounts(t *testing.T) {
	h := newHarness(t, Config{Auth: usersAuth})
	c1, l1 := h.open()
	c2, l2 := h.open()
	_, l3 := h.open()
	h.request(c1, l1, `{"code":1,"topic":"news"}`)
	h.request(c2, l2, `{"code":1,"topic":"news"}`)
	h.request(c2, l2, `{"code":3,"data":"user:bob"}`)
	h.request(c2, l2, `{"code":5,"topic":"inbox"}`)

	assert.Equal(t, 3, h.hub.Deliver(Push{Data: []byte("all")}), "a broadcast reaches every connection")
	assert.Equal(t, 2, h.hub.Deliver(Push{Topic: "news"}), "a topic push reaches its subscribers")
	assert.Equal(t, 1, h.hub.Deliver(Push{UID: "bob", Topic: "inbox"}), "a private push reaches the user's subscriber")
	assert.Zero(t, h.hub.Deliver(Push{Topic: "nobody"}), "a topic without subscribers reaches nobody")
	require.NoError(t, h.hub.Publish(context.Background(), Push{Topic: "news"}), "Publish")

	st := h.hub.Stats()
	assert.Equal(t, int64(3+2+1+0+2), st.Deliveries.Load(), "deliveries counted")
	assert.Equal(t, int64(1), st.Pushes[TargetAll].Load(), "broadcasts counted")
	assert.Equal(t, int64(3), st.Pushes[TargetTopic].Load(), "topic pushes counted")
	assert.Equal(t, int64(1), st.Pushes[TargetUser].Load(), "private pushes counted")
	assert.Len(t, pushes(t, l1), 3, "c1: broadcast and two news pushes")
	assert.Len(t, pushes(t, l2), 4, "c2: broadcast, two news pushes, one private")
	assert.Len(t, pushes(t, l3), 1, "c3: the broadcast")
}

func TestHubDeliverOrderAndSharing(t *testing.T) {
	h := newHarness(t, Config{Policy: lazyPolicy{}})
	c1, _ := h.open()
	c2, _ := h.open()
	for i := range 3 {
		h.hub.Deliver(Push{Data: []byte{byte('0' + i)}})
	}
	b1, b2 := c1.Out.Peek(nil, 8), c2.Out.Peek(nil, 8)
	require.Len(t, b1, 3, "three frames queued for c1")
	require.Len(t, b2, 3, "three frames queued for c2")
	for i := range 3 {
		assert.Same(t, &b1[i][0], &b2[i][0], "frame %d encoded once and shared", i)
		assert.Equal(t, fmt.Sprintf(`{"code":9,"data":"%s"}`, []string{"MA==", "MQ==", "Mg=="}[i]), string(b1[i][2:]),
			"frame %d in push order", i)
	}
}

// lazyPolicy never kicks: frames wait in the outbox.
type lazyPolicy struct{}

func (lazyPolicy) Queued(*Conn, int) bool { return false }
func (lazyPolicy) Coalesce() bool         { return true }

func TestHubClosedRemovesEverything(t *testing.T) {
	h := newHarness(t, Config{Auth: usersAuth})
	c, l := h.open()
	other, ol := h.open()
	h.request(c, l, `{"code":1,"topic":"news"}`)
	h.request(c, l, `{"code":3,"data":"user:alice"}`)
	h.request(c, l, `{"code":5,"topic":"orders"}`)
	h.request(other, ol, `{"code":1,"topic":"news"}`)
	st := h.hub.Stats()
	require.Equal(t, int64(2), st.Conns.Load(), "precondition: two connections")

	h.hub.Closed(c)
	h.hub.Closed(other)
	assert.Zero(t, h.reg.Len(), "registry Len 0")
	assert.Zero(t, h.reg.subCount(), "no subscription indexed")
	assert.Zero(t, st.Conns.Load(), "Conns zeroed")
	assert.Zero(t, st.LoggedIn.Load(), "LoggedIn zeroed")
	assert.Zero(t, st.Subscriptions.Load(), "Subscriptions zeroed")
	assert.Empty(t, c.UID(), "no user")
	assert.Zero(t, h.hub.Deliver(Push{}), "a broadcast reaches nobody")

	h.hub.Closed(c)
	assert.Zero(t, st.Conns.Load(), "Closed is idempotent")
	assert.Zero(t, st.LoggedIn.Load(), "Closed is idempotent")

	c.Handle(context.Background(), []byte(`{"code":1,"topic":"late"}`))
	assert.Zero(t, h.reg.subCount(), "a request after Closed indexes nothing")
	assert.Zero(t, st.Subscriptions.Load(), "nor counts a subscription")
	assert.Zero(t, c.Out.Pending(), "nor queues a reply")
}

func TestHubSlowConsumer(t *testing.T) {
	h := newHarness(t, Config{Limits: Limits{MaxQueued: 200}})
	c, l := h.open()
	l.stuck.Store(true) // the socket accepts nothing
	p := Push{Data: make([]byte, 30)}
	frame := FormatJSON.Encode(p)
	n := 0
	for ; n < 10 && !c.Out.Closing(); n++ {
		h.hub.Deliver(p)
		require.LessOrEqual(t, c.Out.Pending(), 200, "push %d: the queue never passes the limit before closing", n)
	}
	require.True(t, c.Out.Closing(), "the connection is closing")
	assert.Equal(t, 200/charge(frame)+1, n, "the push that would pass the limit closes it")
	assert.Equal(t, int64(1), h.hub.Stats().SlowConsumers.Load(), "a slow consumer counted")
	assert.Equal(t, int64(1), h.hub.Stats().Closes[5].Load(), "a close 1008 counted")
	require.Equal(t, ClosePolicy, CloseCodes[5], "slot 5 is 1008")
	kicks := l.kicks.Load()
	h.hub.Deliver(p)
	assert.Equal(t, kicks, l.kicks.Load(), "nothing queued nor kicked afterwards")

	l.stuck.Store(false)
	l.Kick()
	fs := l.take(t)
	require.Len(t, fs, 1, "only the close frame went out: everything pending was dropped")
	code, reason := fs[0].closeCode()
	assert.Equal(t, ClosePolicy, code, "close 1008")
	assert.Equal(t, "slow consumer", reason, "slow consumer")
	assert.True(t, eventually(func() bool { return h.reg.Len() == 0 }, 5*time.Second), "the connection is gone")
}

func TestHubSweepExpiry(t *testing.T) {
	var mu sync.Mutex
	var expires time.Time
	auth := authFunc(func(_ context.Context, cred string) (Identity, error) {
		mu.Lock()
		defer mu.Unlock()
		return Identity{UID: cred, Expires: expires}, nil
	})
	h := newHarness(t, Config{Auth: auth, Limits: Limits{IdleTimeout: time.Second}}) // sweep every 100 ms
	c, l := h.open()
	h.request(c, l, `{"code":1,"topic":"news"}`)
	mu.Lock()
	expires = time.Now().Add(300 * time.Millisecond)
	mu.Unlock()
	require.Equal(t, `{"code":3,"status":0}`, h.request(c, l, `{"code":3,"data":"alice"}`), "login with a credential that expires soon")
	h.request(c, l, `{"code":5,"topic":"orders"}`)
	require.Equal(t, 1, h.hub.Deliver(Push{UID: "alice", Topic: "orders"}), "precondition: private subscription")
	l.take(t)

	var got []string
	ok := eventually(func() bool {
		c.Touch() // an active client: the idle timeout must not interfere
		got = append(got, texts(l.take(t))...)
		return len(got) > 0
	}, 10*time.Second)
	require.True(t, ok, "the expiry notice arrives within 10 s")
	assert.Equal(t, []string{`{"code":4,"status":401,"message":"credential expired"}`}, got, "the expiry notice")
	assert.Empty(t, c.UID(), "logged out")
	assert.Zero(t, h.hub.Deliver(Push{UID: "alice", Topic: "orders"}), "private channels left")
	assert.Equal(t, 1, h.hub.Deliver(Push{Topic: "news"}), "public channels kept")
	assert.Zero(t, h.hub.Stats().LoggedIn.Load(), "nobody logged in")
	assert.False(t, c.Out.Closing(), "the connection stays open")
}

func TestHubSweepIdle(t *testing.T) {
	h := newHarness(t, Config{Limits: Limits{IdleTimeout: 50 * time.Millisecond}})
	_, l := h.open()
	require.True(t, eventually(l.closed.Load, 10*time.Second), "an idle connection is closed")
	fs := l.frames(t)
	require.NotEmpty(t, fs, "a frame went out")
	code, reason := fs[len(fs)-1].closeCode()
	assert.Equal(t, CloseGoingAway, code, "close 1001")
	assert.Equal(t, "idle timeout", reason, "idle timeout")
	assert.True(t, eventually(func() bool { return h.reg.Len() == 0 }, 5*time.Second), "and gone")
}

func TestHubSweepWriteTimeout(t *testing.T) {
	h := newHarness(t, Config{Limits: Limits{WriteTimeout: 50 * time.Millisecond}})
	c, l := h.open()
	l.stuck.Store(true)
	h.hub.Deliver(Push{Data: []byte("x")})
	require.Positive(t, c.Out.Pending(), "precondition: bytes pending")
	assert.True(t, eventually(func() bool { return l.aborts.Load() > 0 }, 10*time.Second),
		"a socket that accepts nothing for the write timeout is aborted")
}

func TestHubDrain(t *testing.T) {
	h := newHarness(t, Config{Policy: lazyPolicy{}})
	_, l1 := h.open()
	_, l2 := h.open()
	h.hub.Deliver(Push{Data: []byte("before")})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	h.hub.Drain(ctx)
	assert.Less(t, time.Since(start), 5*time.Second, "Drain returns once every connection is gone")
	assert.Zero(t, h.reg.Len(), "every connection gone")
	for i, l := range []*fakeLink{l1, l2} {
		fs := l.frames(t)
		require.Len(t, fs, 2, "conn %d: the pending push, then the close frame", i)
		assert.Equal(t, `{"code":9,"data":"YmVmb3Jl"}`, string(fs[0].payload), "conn %d: pending output flushed first", i)
		code, reason := fs[1].closeCode()
		assert.Equal(t, CloseGoingAway, code, "conn %d: close 1001", i)
		assert.Equal(t, "going away", reason, "conn %d: going away", i)
		assert.Zero(t, l.aborts.Load(), "conn %d: closed cleanly", i)
	}
}

func TestHubDrainAbortsStuck(t *testing.T) {
	h := newHarness(t, Config{})
	_, l := h.open()
	l.stuck.Store(true)
	h.hub.Deliver(Push{Data: []byte("x")})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	h.hub.Drain(ctx)
	assert.Equal(t, int64(1), l.aborts.Load(), "a connection that takes nothing is aborted when ctx is done")
	assert.True(t, eventually(func() bool { return h.reg.Len() == 0 }, 5*time.Second), "and gone")
}

// TestHubSweepDoesNotDeadlock runs the sweep every 10 ms while connections
// subscribe, unsubscribe and close: the sweep walks the registry under its
// read lock, and session operations take Conn.mu, then the registry's
// write lock. The sweep must not wait for Conn.mu while it holds the read
// lock, or both wait for ever.
func TestHubSweepDoesNotDeadlock(t *testing.T) {
	reg := newTestRegistry()
	hub := NewHub(Config{Registry: reg, Policy: kickPolicy{}, Auth: usersAuth, Limits: Limits{IdleTimeout: 100 * time.Millisecond}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				deadline := time.Now().Add(time.Second)
				for i := 0; time.Now().Before(deadline); i++ {
					l := &fakeLink{hub: hub}
					l.mu.Lock()
					l.c = hub.Open(l)
					l.mu.Unlock()
					for j := range 20 {
						l.c.Handle(context.Background(), fmt.Appendf(nil, `{"code":1,"topic":"g%d-%d"}`, g, j))
					}
					l.c.Handle(context.Background(), []byte(`{"code":3,"data":"user:u"}`))
					hub.Closed(l.c)
				}
			})
		}
		wg.Wait()
		hub.Close()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("deadlock: the sweep and the session operations wait for each other")
	}
	assert.Zero(t, reg.Len(), "every connection closed")
	assert.Zero(t, hub.Stats().Subscriptions.Load(), "no subscription left")
}

// TestHubKicksAfterTheWalk (issue 11): a policy that writes at once does
// not write under the registry's lock, where a long fan-out would stall
// every subscribe and close on that shard: frames are queued during the
// walk and the connections kicked after it.
func TestHubKicksAfterTheWalk(t *testing.T) {
	h := newHarness(t, Config{})
	var links []*fakeLink
	for range 3 {
		c, l := h.open()
		h.request(c, l, `{"code":1,"topic":"news"}`)
		links = append(links, l)
	}
	require.Equal(t, 3, h.hub.Deliver(Push{Topic: "news", Data: []byte("x")}))
	for i, l := range links {
		assert.Positive(t, l.kicks.Load(), "connection %d kicked", i)
		assert.Zero(t, l.inWalk.Load(), "connection %d kicked during the walk", i)
		assert.Len(t, pushes(t, l), 1, "connection %d got the push", i)
	}
}
