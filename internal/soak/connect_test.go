//go:build linux

package soak

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
	"github.com/gpush/gpush/variants/policy"
)

// TestConnectDuringBroadcasts: connections arrive while pushes to every
// connection flow without pause, so that pushes reach connections the
// transport is still setting up. Each new connection receives the pushes
// in order from its first one, and the server keeps serving; under the race
// detector this also checks that a push never touches a connection's
// transport state before the transport has set it (a push may arrive as soon
// as Hub.Open has registered the connection). The pusher itself writes with
// the immediate policy, and with the batched one too once a connection holds
// flush-bytes (16 KiB): every fourth push is that large. Cheap, so every
// variant. It found nbio closing sockets whose write failed outside its
// poller, where a stale event then closed a new connection given the same
// descriptor number (variants/transport/nbio/link.go).
func TestConnectDuringBroadcasts(t *testing.T) {
	const (
		conns   = 300
		dialers = 4
		perConn = 3 // pushes each connection reads before it leaves
	)
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			s := st.Start(t, v, nil)
			base := baseline(t, s)
			stop := make(chan struct{})
			var pushed atomic.Int64
			var pusher sync.WaitGroup
			pusher.Add(1)
			go func() {
				defer pusher.Done()
				for seq := int64(0); ; seq++ {
					select {
					case <-stop:
						return
					default:
					}
					size := 16
					if seq%4 == 0 {
						size = policy.DefaultFlushBytes
					}
					s.Hub().Publish(context.Background(), core.Push{Data: payload(seq, false, size)})
					pushed.Add(1)
					if seq%64 == 63 {
						time.Sleep(time.Millisecond) // a steady stream, not a backlog
					}
				}
			}()

			var e errs
			var wg sync.WaitGroup
			next := atomic.Int64{}
			for range dialers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1); i <= conns; i = next.Add(1) {
						c, err := dial(s.WSAddr, 0, 4096)
						if err != nil {
							e.add("connection %d: %v", i, err)
							continue
						}
						tr := newSeqs(false)
						code, _, err := drain(c, tr, 30*time.Second, func() bool { return tr.n == perConn })
						if err == nil && tr.n != perConn {
							err = fmt.Errorf("stream ended (close %d) after %d pushes", code, tr.n)
						}
						if err != nil {
							e.add("connection %d: %v", i, err)
						}
						c.nc.Close()
					}
				}()
			}
			wg.Wait()
			close(stop)
			pusher.Wait()
			e.check(t, "every new connection receives the pushes in order")
			assert.Positive(t, pushed.Load())
			t.Logf("%s: %d connections arrived during %d pushes to every connection", v, conns, pushed.Load())

			late, err := dial(s.WSAddr, 0, 4096)
			require.NoError(t, err, "the server still accepts connections")
			require.NoError(t, late.request(`{"code":1,"topic":"late","id":1}`, nil))
			late.nc.Close()
			settle(t, s, base, 0, slack{goroutines: 5, heap: 8 << 20}, 30*time.Second)
		})
	}
}
