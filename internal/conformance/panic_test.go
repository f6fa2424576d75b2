package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// panicAuth is a login check with a bug: it panics.
type panicAuth struct{}

func (panicAuth) Authenticate(context.Context, string) (core.Identity, error) { panic("auth bug") }

// TestHandlerPanic: a panic while handling a request closes that connection
// with 1011 on every transport (core recovers it, not each transport), and
// the server goes on serving the others.
func TestHandlerPanic(t *testing.T) {
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			s := st.Start(t, v, func(c *server.Config) { c.Auth = panicAuth{} })
			bystander := s.Dial(t)
			ok(t, bystander.Request(1, "news", "", 1), 1)
			c := s.Dial(t)
			c.Send(`{"code":3,"data":"token"}`)
			c.WS.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, msg, err := c.WS.ReadMessage()
			var ce *websocket.CloseError
			require.ErrorAs(t, err, &ce, "a close frame, not a message (%q)", msg)
			assert.Equal(t, core.CloseInternal, ce.Code, "close 1011")
			require.Eventually(t, func() bool { return s.Hub().Stats().Conns.Load() == 1 }, 5*time.Second, 5*time.Millisecond,
				"the connection is closed, the other stays")
			ok(t, bystander.Request(1, "more", "", 2), 1)
			require.NoError(t, s.PushGRPC("", "news", []byte("still here"), ""))
			assert.Equal(t, "still here", string(bystander.Read().Data), "the server still delivers")
			s.Stop(t)
		})
	}
}
