//go:build linux

package epoll

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/core/wsframe/wsclient"
)

// gate is an Authenticator that admits a credential once the test opens
// its gate, and one without a gate at once. The map is not written after
// newGate; gates left shut open when the test ends, so no login goroutine
// outlives it.
type gate map[string]chan struct{}

func newGate(t *testing.T, creds ...string) gate {
	g := gate{}
	for _, c := range creds {
		g[c] = make(chan struct{})
	}
	t.Cleanup(func() {
		for c := range g {
			g.open(c)
		}
	})
	return g
}

// open lets cred's logins through; the test goroutine calls it.
func (g gate) open(cred string) {
	select {
	case <-g[cred]:
	default:
		close(g[cred])
	}
}

func (g gate) Authenticate(ctx context.Context, cred string) (core.Identity, error) {
	ch, ok := g[cred]
	if !ok {
		return core.Identity{UID: cred}, nil
	}
	select {
	case <-ch:
		return core.Identity{UID: cred}, nil
	case <-ctx.Done():
		return core.Identity{}, ctx.Err()
	}
}

// waitUntil polls cond until it holds, failing after a deadline.
func waitUntil(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), msg)
		time.Sleep(time.Millisecond)
	}
}

// inLogins reports whether ec has a login queue in logins.
func inLogins(l *loop, ec *conn) bool {
	_, ok := l.t.logins.Load(ec)
	return ok
}

// TestLoginQueue: what a connection sends while its login waits for the
// auth service queues behind it (Transport.logins), in order; once the
// login's goroutine is done, its queue leaves logins and the loop handles
// requests again.
func TestLoginQueue(t *testing.T) {
	g := newGate(t, "alice")
	l := testLoopAuth(t, g)
	p := connect(t, l, nil)
	p.send(t, wsclient.Text(`{"code":3,"data":"alice","id":0}`))
	require.True(t, p.ec.login, "the login went to a goroutine of its own")
	require.True(t, inLogins(l, p.ec), "its queue is in logins")
	p.send(t, wsclient.Text(`{"code":5,"topic":"inbox","id":1}`))
	p.send(t, wsclient.Text(`{"code":1,"topic":"news","id":2}`))

	g.open("alice")
	p.expect(t, `{"code":3,"id":0,"status":0}`, `{"code":5,"id":1,"topic":"inbox","status":0}`, `{"code":1,"id":2,"topic":"news","status":0}`)
	waitUntil(t, func() bool { return !inLogins(l, p.ec) }, "the login's queue leaves logins when its goroutine ends")
	p.send(t, wsclient.Text(`{"code":1,"topic":"later","id":3}`))
	assert.False(t, p.ec.login, "the loop handles requests again")
	p.expect(t, `{"code":1,"id":3,"topic":"later","status":0}`)
}

// TestLoginClosedWhileAuthenticating: a connection that ends while its
// login waits releases its parked state at once; its queue leaves logins
// when the login's goroutine ends.
func TestLoginClosedWhileAuthenticating(t *testing.T) {
	g := newGate(t, "alice")
	l := testLoopAuth(t, g)
	start := wsframe.Held()
	p := connect(t, l, nil)
	p.send(t, wsclient.Text(`{"code":3,"data":"alice","id":0}`))
	require.True(t, inLogins(l, p.ec), "the login waits for the auth service")
	p.send(t, wsclient.Text(`{"code":1,"topic":"news","id":1}`))
	half := wsclient.Text(`{"code":1,"topic":"cut","id":2}`)
	p.send(t, half[:len(half)/2])
	require.False(t, p.ec.pk.Empty(), "half a frame is parked")

	require.NoError(t, p.nc.Close())
	l.read(p.ec, true)
	require.True(t, p.ec.gone, "the loop closed the connection at EOF")
	assert.Equal(t, start, wsframe.Held(), "its parked state went back to its pools")
	assert.True(t, inLogins(l, p.ec), "the login still waits")

	g.open("alice")
	waitUntil(t, func() bool { return !inLogins(l, p.ec) }, "the queue leaves logins once the login's goroutine ends")
	assert.Equal(t, start, wsframe.Held())
	assert.Zero(t, l.t.hub.Stats().LoggedIn.Load(), "a login that ends after its connection closed does not count")
}

// TestLoginAfterLogin: a second login that starts once the first one's
// queue is done but before its goroutine removed it from logins: that
// removal leaves the second login's queue, whose replies come in order.
func TestLoginAfterLogin(t *testing.T) {
	g := newGate(t, "bob") // alice is admitted at once
	l := testLoopAuth(t, g)
	removals := make(chan func() bool, 2)
	l.t.loginEnd = func(remove func() bool) { removals <- remove } // the test removes when it chooses
	p := connect(t, l, nil)

	p.send(t, wsclient.Text(`{"code":3,"data":"alice","id":0}`))
	p.expect(t, `{"code":3,"id":0,"status":0}`)
	removeFirst := nextRemoval(t, removals)
	first, ok := l.t.logins.Load(p.ec)
	require.True(t, ok, "the first login's queue, done, is still in logins")

	p.send(t, wsclient.Text(`{"code":3,"data":"bob","id":1}`))
	require.True(t, p.ec.login, "the second login went to a goroutine of its own")
	p.send(t, wsclient.Text(`{"code":1,"topic":"news","id":2}`))
	p.send(t, wsclient.Text(`{"code":5,"topic":"inbox","id":3}`))
	second, ok := l.t.logins.Load(p.ec)
	require.True(t, ok)
	require.NotSame(t, first, second, "the second login has a queue of its own")

	assert.False(t, removeFirst(), "the first goroutine's removal does not remove the second login's queue")
	now, ok := l.t.logins.Load(p.ec)
	assert.True(t, ok)
	assert.Same(t, second, now, "the second login's queue stays in logins")

	g.open("bob")
	p.expect(t, `{"code":3,"id":1,"status":0}`, `{"code":1,"id":2,"topic":"news","status":0}`, `{"code":5,"id":3,"topic":"inbox","status":0}`)
	assert.True(t, nextRemoval(t, removals)(), "the second goroutine removes its own queue")
	assert.False(t, inLogins(l, p.ec))
}

// nextRemoval waits for a login goroutine's removal of its queue.
func nextRemoval(t *testing.T, removals chan func() bool) func() bool {
	select {
	case remove := <-removals:
		return remove
	case <-time.After(10 * time.Second):
		require.FailNow(t, "no login goroutine ended")
		return nil
	}
}
