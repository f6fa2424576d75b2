//go:build linux

package epoll

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe"
)

// gate is an Authenticator that admits every credential once the test
// opens it.
type gate struct{ open chan struct{} }

func (g gate) Authenticate(ctx context.Context, cred string) (core.Identity, error) {
	select {
	case <-g.open:
		return core.Identity{UID: cred}, nil
	case <-ctx.Done():
		return core.Identity{}, ctx.Err()
	}
}

func request(format string, args ...any) []byte {
	return wsframe.AppendMaskedFrame(nil, ws.OpText, true, testMask, fmt.Appendf(nil, format, args...))
}

// TestLoginQueue: what a connection sends while its login waits for the
// auth service queues behind it (Transport.logins), in order; once the
// login's goroutine is done, its queue leaves logins and the loop handles
// requests again.
func TestLoginQueue(t *testing.T) {
	g := gate{open: make(chan struct{})}
	l := testLoopAuth(t, g)
	p := connect(t, l, nil)
	p.send(t, request(`{"code":3,"data":"alice","id":0}`))
	require.True(t, p.ec.login, "the login went to a goroutine of its own")
	_, queued := l.t.logins.Load(p.ec)
	require.True(t, queued, "its queue is in logins")
	p.send(t, request(`{"code":5,"topic":"inbox","id":1}`))
	p.send(t, request(`{"code":1,"topic":"news","id":2}`))

	close(g.open)
	for id, want := range []string{
		`{"code":3,"id":0,"status":0}`,
		`{"code":5,"id":1,"topic":"inbox","status":0}`,
		`{"code":1,"id":2,"topic":"news","status":0}`,
	} {
		_, got := p.next(t)
		assert.Equal(t, want, got, "reply %d, in request order", id)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, ok := l.t.logins.Load(p.ec); ok; _, ok = l.t.logins.Load(p.ec) {
		require.True(t, time.Now().Before(deadline), "the login's queue leaves logins when its goroutine ends")
		time.Sleep(time.Millisecond)
	}
	p.send(t, request(`{"code":1,"topic":"later","id":3}`))
	assert.False(t, p.ec.login, "the loop handles requests again")
	_, got := p.next(t)
	assert.Equal(t, `{"code":1,"id":3,"topic":"later","status":0}`, got)
}
