package conformance

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe/wsclient"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// TestGracefulShutdown: on shutdown, queued output is flushed first, then
// every client gets close 1001 `going away`, and Serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	eachVariant(t, nil, nil, func(t *testing.T, s *st.Server) {
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

// TestDrainStalledClient: on shutdown, a client whose socket is full and
// that never reads delays no one else's 1001: the healthy clients get
// their queued output and close 1001 within 3 s of the signal although the
// drain timeout is 10 s, and upgrades racing the shutdown are either
// refused or get their 1001 too.
func TestDrainStalledClient(t *testing.T) {
	const healthy, within = 4, 3 * time.Second
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			s := st.Start(t, v, func(c *server.Config) {
				c.DrainTimeout = 10 * time.Second
				c.Limits.MaxQueued = 64 << 20 // the stalled client stays open, its queue full
			})
			stalled := dialStalled(t, s)
			var rs []*st.Raw
			for range healthy {
				r := s.DialRaw(t)
				ok(t, rawRequest(t, r, `{"code":1,"topic":"h"}`), 1)
				rs = append(rs, r)
			}
			require.Eventually(t, func() bool { return s.Hub().Stats().Subscriptions.Load() == healthy+1 }, 5*time.Second, time.Millisecond)
			flood := floodStalled(t, s)
			require.NoError(t, s.Hub().Publish(context.Background(), core.Push{Topic: "h", Data: []byte("last")}))

			racing := raceUpgrades(t, s)
			start := time.Now()
			s.Shutdown()
			for i, r := range rs {
				m := rawRead(t, r)
				assert.Equal(t, "last", string(m.Data), "client %d: queued output first", i)
				assert.Equal(t, 1001, r.CloseCode(time.Until(start.Add(within))), "client %d: 1001 within %v of the signal", i, within)
			}
			t.Logf("healthy clients closed %v after the signal; %d MiB queued for the stalled one", time.Since(start).Round(time.Millisecond), flood>>20)
			for _, err := range racing() {
				assert.NoError(t, err)
			}
			stalled.Close() // lets the drain end before its timeout
			s.Stop(t)
		})
	}
}

// dialStalled upgrades a client with a 4 KiB receive buffer, subscribes it
// to "flood" and never reads from it.
func dialStalled(t *testing.T, s *st.Server) net.Conn {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	nc, err := d.Dial("tcp", s.WSAddr)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	_, err = nc.Write([]byte(upgradeRequest(s.WSAddr, "/ws")))
	require.NoError(t, err)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil) // reads the response, and from now on nothing
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	_, err = nc.Write(st.Text(`{"code":1,"topic":"flood"}`))
	require.NoError(t, err)
	return nc
}

// floodStalled pushes 16 MiB to "flood" and waits until the server has
// written what the stalled socket takes; it returns the bytes still queued
// (at least half).
func floodStalled(t *testing.T, s *st.Server) int64 {
	payload := make([]byte, 64<<10)
	for range 256 {
		require.NoError(t, s.Hub().Publish(context.Background(), core.Push{Topic: "flood", Data: payload}))
	}
	const frames = 256 * (64 << 10) * 4 / 3 // base64 in the JSON frame, at least
	written := &s.Hub().Stats().BytesWritten
	for last := int64(-1); last != written.Load(); { // until the sockets take nothing more
		last = written.Load()
		time.Sleep(100 * time.Millisecond)
	}
	queued := frames - written.Load()
	require.Greater(t, queued, int64(frames/2), "precondition: the stalled client's socket is full and most of the flood queued")
	return queued
}

// raceUpgrades dials upgrades in a loop until the server refuses them,
// and returns once 20 have succeeded, so that upgrades are in full swing
// when the shutdown begins. The function it returns waits for the dialers
// and lists what went wrong: every upgrade that succeeded must get close
// 1001 within 3 s.
func raceUpgrades(t *testing.T, s *st.Server) func() []error {
	var (
		mu       sync.Mutex
		errs     []error
		wg       sync.WaitGroup
		upgraded = make(chan struct{}, 1000)
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := upgrade(s.WSAddr)
				if c == nil {
					return // refused: the shutdown began
				}
				select {
				case upgraded <- struct{}{}:
				default:
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := goingAway(c); err != nil {
						fail(err)
					}
				}()
			}
		}()
	}
	for range 20 {
		select {
		case <-upgraded:
		case <-time.After(5 * time.Second):
			t.Fatal("upgrades before the shutdown did not succeed")
		}
	}
	return func() []error { wg.Wait(); return errs }
}

// upgrade dials and upgrades, with 3 s for the upgrade and what follows;
// nil when the server refused the connection or the upgrade.
func upgrade(addr string) *wsclient.Conn {
	deadline := time.Now().Add(3 * time.Second)
	c, err := wsclient.Dial(addr, wsclient.Config{Timeout: 3 * time.Second})
	if err != nil {
		return nil
	}
	c.SetDeadline(deadline)
	return c
}

// goingAway reads the first frame of an upgraded connection, which must be
// close 1001 (the server is shutting down, or will) within 3 s of the
// upgrade, and closes the connection.
func goingAway(c *wsclient.Conn) error {
	defer c.Close()
	code, err := c.NextClose()
	if err != nil {
		return fmt.Errorf("an upgrade got no close frame: %w", err)
	}
	if code != 1001 {
		return fmt.Errorf("an upgrade got close %d instead of 1001", code)
	}
	return nil
}
