package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// TestGracefulShutdown: on shutdown, queued output is flushed first, then
// every client gets close 1001 `going away`, and Serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			s := st.Start(t, v, nil)
			r := s.DialRaw(t)
			ok(t, rawRequest(t, r, `{"code":1,"topic":"d"}`), 1)
			require.NoError(t, s.Hub().Publish(context.Background(), core.Push{Topic: "d", Data: []byte("last")}))
			s.Stop(t) // requires Serve to return nil
			m := rawRead(t, r)
			assert.Equal(t, "last", string(m.Data), "queued output is flushed before the close")
			assert.Equal(t, 1001, r.CloseCode(5*time.Second), "every client gets 1001 going away")
			assert.True(t, r.Closed(5*time.Second))
		})
	}
}
