package conformance

import (
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
)

// TestFullSocketWrites (issue 11): a socket known to be full gets no write
// per push until it has room again. A client that never reads is pushed
// far more than its socket holds; the last 100 pushes, which find its
// socket full, cost (almost) no write calls, where the immediate policy
// used to try a writev for each. Immediate variants: each push kicks.
func TestFullSocketWrites(t *testing.T) {
	eachVariant(t, policyOnly("immediate"), func(c *server.Config) { c.Limits.MaxQueued = 256 << 20 }, func(t *testing.T, s *st.Server) {
		r := s.DialRaw(t)
		require.NoError(t, r.NC.(*net.TCPConn).SetReadBuffer(4<<10))
		ok(t, rawRequest(t, r, `{"code":1,"topic":"full"}`), 1)
		big := core.Push{Topic: "full", Data: bytes.Repeat([]byte("b"), 64<<10)}
		for range 400 { // 26 MB: far more than the two sockets' buffers
			require.NoError(t, s.Hub().Publish(context.Background(), big))
		}
		before := s.Hub().Stats().Writes.Load()
		for range 100 {
			require.NoError(t, s.Hub().Publish(context.Background(), core.Push{Topic: "full", Data: []byte("s")}))
		}
		writes := s.Hub().Stats().Writes.Load() - before
		assert.Less(t, writes, int64(10), "100 pushes to a full socket cost %d writes", writes)
		t.Logf("%s: 100 pushes to a full socket: %d writes", s.Config.Variant, writes)
	})
}
