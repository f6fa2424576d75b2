package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe/wsclient"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// flushCounts are the transports that hand every frame to a library which
// keeps what the socket did not take and flushes it later: each flush
// counts as one more write (nbio).
var flushCounts = map[string]bool{"nbio": true}

// TestBacklog: a client that reads nothing while megabytes of pushes pile
// up gets every push, in order, once it reads: the transport stops writing
// while the socket is full and resumes as it drains.
func TestBacklog(t *testing.T) {
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			s := st.Start(t, v, func(c *server.Config) { c.Limits.MaxQueued, c.PushFormat = 64<<20, "raw" })
			c := backlogClient(t, s)
			stats := s.Hub().Stats()
			before, sent := stats.Writes.Load(), stats.BytesWritten.Load()
			const n = 8000 // 8 MB: twice what the sockets hold
			pad := strings.Repeat("x", 1000)
			for i := range n {
				require.NoError(t, s.Hub().Publish(context.Background(), core.Push{Topic: "t", Data: fmt.Appendf(nil, "%d %s", i, pad)}))
			}
			time.Sleep(100 * time.Millisecond) // the client reads nothing meanwhile
			held := stats.BytesWritten.Load() - sent
			for i := range n {
				require.Equal(t, fmt.Sprintf("%d %s", i, pad), string(backlogRead(t, c)), "push %d", i)
			}
			total := stats.BytesWritten.Load() - sent
			assert.Greater(t, total, int64(n*1000), "bytes the socket took")
			assert.Less(t, held, total, "the socket held back part of the backlog while the client read nothing")
			t.Logf("%s: %d of %d bytes written while the client read nothing", v, held, total)
			if a, _ := variants.AxesOf(v); flushCounts[a.Transport] {
				assert.Greater(t, stats.Writes.Load()-before, int64(n), "%s flushed what the socket did not take at once, and that counts", a.Transport)
			}
			s.Stop(t)
		})
	}
}

// backlogClient subscribes to topic "t"; its receive buffer is fixed, so
// that what the kernel holds for it is bounded.
func backlogClient(t *testing.T, s *st.Server) *wsclient.Conn {
	t.Helper()
	c, err := wsclient.Dial(s.WSAddr, wsclient.Config{Timeout: 5 * time.Second, BufSize: 64 << 10})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.Conn.(*net.TCPConn).SetReadBuffer(128<<10))
	_, err = c.Write(wsclient.Text(`{"code":1,"topic":"t"}`))
	require.NoError(t, err)
	var m st.Msg
	require.NoError(t, json.Unmarshal(backlogRead(t, c), &m))
	ok(t, m, 1)
	return c
}

// backlogRead reads the next text message.
func backlogRead(t *testing.T, c *wsclient.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, p, err := c.Next()
	require.NoError(t, err)
	require.Equal(t, ws.OpText, h.OpCode)
	return p
}
