//go:build linux

package soak

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
)

// heartbeat sends a pong control frame every d until stop closes or a write
// fails: the client stays active without asking for any answer.
func heartbeat(c *client, d time.Duration, stop <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if c.pong() != nil {
					return
				}
			}
		}
	}()
}

// TestVanishingClients: clients that vanish without a close are closed and
// freed by the server, while a well-behaved subscriber is unaffected:
//   - silent: connected, never send or read anything: close 1001 (idle);
//   - half: wrote half of a frame, then nothing: close 1001 (idle);
//   - mute: subscribed, then never read or send while pushes flow: idle,
//     their close 1001 stuck behind pushes the socket does not take, then
//     aborted;
//   - stuck: subscribed, never read, but send heartbeats, so never idle:
//     their socket accepts nothing for the write timeout and is closed,
//     without a close frame (the protocol's write timeout).
//
// Every connection's stream is in order up to where it ends.
func TestVanishingClients(t *testing.T) {
	const (
		idle     = time.Second
		writeTO  = 2 * time.Second // above idle, so mute clients take the idle path
		nSilent  = 8
		nHalf    = 6
		nMute    = 6
		nStuck   = 4
		pushSize = 4 << 10
	)
	for _, v := range faultVariants {
		t.Run("variant="+v, func(t *testing.T) {
			s := st.Start(t, v, func(c *server.Config) {
				c.Limits.IdleTimeout = idle
				c.Limits.WriteTimeout = writeTO
				c.Limits.MaxQueued = 256 << 20 // never reached: only the timeouts close here
			})
			base := baseline(t, s)
			stop := make(chan struct{})
			var hb sync.WaitGroup
			stopHeartbeats := sync.OnceFunc(func() { close(stop); hb.Wait() })
			defer stopHeartbeats()

			good, err := dial(s.WSAddr, 0, 4096)
			require.NoError(t, err)
			defer good.nc.Close()
			require.NoError(t, good.request(`{"code":1,"topic":"v","id":1}`, nil))
			heartbeat(good, idle/5, stop, &hb)
			goodTr := newSeqs(true)
			goodDone := make(chan error, 1)
			go func() {
				_, _, err := drain(good, goodTr, time.Minute, func() bool { return goodTr.ended["v"] })
				goodDone <- err
			}()

			open := func(n, rcvbuf int, sub bool) []*client {
				cs := make([]*client, n)
				for i := range cs {
					c, err := dial(s.WSAddr, rcvbuf, 4096)
					require.NoError(t, err)
					t.Cleanup(func() { c.nc.Close() })
					if sub {
						require.NoError(t, c.request(fmt.Sprintf(`{"code":1,"topic":"v","id":%d}`, i), nil))
					}
					cs[i] = c
				}
				return cs
			}
			silent := open(nSilent, 0, false)
			half := open(nHalf, 0, false)
			for i, c := range half {
				f := st.Text(`{"code":1,"topic":"never","id":1}`)
				require.NoError(t, c.write(f[:[]int{1, 6, 12}[i%3]]))
			}
			mute := open(nMute, 4096, true)
			stuck := open(nStuck, 4096, true)
			for _, c := range stuck {
				heartbeat(c, idle/5, stop, &hb)
			}
			const all = 1 + nSilent + nHalf + nMute + nStuck
			require.Eventually(t, func() bool { return s.Hub().Stats().Conns.Load() == all }, 10*time.Second, 5*time.Millisecond,
				"the server holds every connection (a transport may register one just after its handshake response)")

			// Push until every vanished client is gone: mute and stuck ones
			// stall once their socket buffers are full.
			seq := int64(0)
			deadline := time.Now().Add(time.Minute)
			for s.Hub().Stats().Conns.Load() > 1 && time.Now().Before(deadline) {
				require.NoError(t, s.PushGRPC("", "v", payload(seq, false, pushSize), ""), "push %d", seq)
				seq++
				time.Sleep(2 * time.Millisecond)
			}
			require.Equal(t, int64(1), s.Hub().Stats().Conns.Load(), "every vanished client is closed and freed (after %d pushes)", seq)
			require.NoError(t, s.PushGRPC("", "v", payload(seq, true, pushSize), ""))
			require.NoError(t, <-goodDone, "the active subscriber received every push in order")
			assert.Equal(t, seq+1, goodTr.n)

			for i, c := range append(silent, half...) {
				code, ended, err := drain(c, newSeqs(true), 10*time.Second, nil)
				require.NoError(t, err, "idle client %d", i)
				assert.Equal(t, core.CloseGoingAway, code, "idle client %d: close 1001", i)
				assert.True(t, ended, "idle client %d: socket closed after the close frame", i)
			}
			// Mute and stuck clients are aborted with their socket full: the
			// stream may end inside a frame.
			aborted := func(code int, ended bool, err error) (int, bool, error) {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					return code, true, nil
				}
				return code, ended, err
			}
			for i, c := range mute {
				code, ended, err := aborted(drain(c, newSeqs(true), 30*time.Second, nil))
				require.NoError(t, err, "mute client %d: its pushes in order", i)
				assert.Contains(t, []int{0, core.CloseGoingAway}, code, "mute client %d: closed as idle", i)
				assert.True(t, ended, "mute client %d: socket closed", i)
			}
			for i, c := range stuck {
				code, ended, err := aborted(drain(c, newSeqs(true), 30*time.Second, nil))
				require.NoError(t, err, "stuck client %d: its pushes in order", i)
				assert.Zero(t, code, "stuck client %d: closed for the write timeout, no close frame", i)
				assert.True(t, ended, "stuck client %d: socket closed", i)
			}
			hs := s.Hub().Stats()
			assert.Zero(t, hs.SlowConsumers.Load(), "no slow-consumer close: the limit is far")
			assert.GreaterOrEqual(t, closes(hs, core.CloseGoingAway), int64(nSilent+nHalf+nMute), "idle closes counted as 1001")
			t.Logf("%s: %d pushes; server closes with 1001: %d", v, seq+1, closes(hs, core.CloseGoingAway))

			stopHeartbeats()
			good.nc.Close()
			settle(t, s, base, 0, slack{goroutines: 5, heap: 8 << 20}, 30*time.Second)
		})
	}
}
