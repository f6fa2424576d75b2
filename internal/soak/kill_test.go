//go:build linux

package soak

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
)

// The helper process: the test binary run again with helperEnv set opens
// connections to the server at addrEnv, then waits to be killed.
const (
	helperEnv      = "GPUSH_SOAK_HELPER"
	addrEnv        = "GPUSH_SOAK_HELPER_ADDR"
	helperConnsEnv = "GPUSH_SOAK_HELPER_CONNS"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "half-frames" {
		os.Exit(halfFrameHelper())
	}
	os.Exit(m.Run())
}

// halfFrameHelper opens N connections, subscribes each to topic k, writes
// half of a frame on each (cut inside the header, after the mask key, or
// mid-payload), says "ready" on stdout and then reads nothing from its
// sockets until it is killed (or its stdin closes: the test is gone).
//
// Its connections must stay reachable until then: a socket nothing refers
// to is closed by its finalizer at the next garbage collection, and the
// server would see the connections go before the kill. The helper collects
// once before it says ready, so that such a mistake shows on every run
// rather than when a collection happens to start late (under load).
func halfFrameHelper() int {
	addr := os.Getenv(addrEnv)
	n, err := strconv.Atoi(os.Getenv(helperConnsEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	conns := make([]*client, 0, n)
	for i := range n {
		c, err := dial(addr, 0, 4096)
		if err == nil {
			err = c.request(fmt.Sprintf(`{"code":1,"topic":"k","id":%d}`, i), nil)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper: connection", i, err)
			return 2
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		f := st.Text(fmt.Sprintf(`{"code":1,"topic":"half%d","id":%d}`, i, i))
		cut := []int{1, 6, 6 + (len(f)-6)/2}[i%3]
		if err := c.write(f[:cut]); err != nil {
			fmt.Fprintln(os.Stderr, "helper: half frame", i, err)
			return 2
		}
	}
	runtime.GC()
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // until killed
	runtime.KeepAlive(conns)
	return 0
}

// TestKill9MidFrame: a client process holding connections with half a frame
// each is killed with SIGKILL while pushes flow; the server keeps serving
// (another subscriber receives every push in order, a new client is served),
// and its connections and goroutines return to the baseline.
func TestKill9MidFrame(t *testing.T) {
	const n = 300      // connections of the killed process
	const pushes = 400 // half before the kill, half after
	for _, v := range faultVariants {
		t.Run("variant="+v, func(t *testing.T) {
			// Nobody here sends a frame after subscribing: no idle timeout
			// may close a connection before the kill, however slow the run.
			s := st.Start(t, v, func(c *server.Config) { c.Limits.IdleTimeout = time.Hour })
			base := baseline(t, s)

			sub, err := dial(s.WSAddr, 0, 4096)
			require.NoError(t, err)
			defer sub.nc.Close()
			require.NoError(t, sub.request(`{"code":1,"topic":"k","id":1}`, nil))
			got := make(chan error, 1)
			go func() { // the bystander reads every push, in order, up to the end marker
				tr := newSeqs(true)
				code, _, err := drain(sub, tr, time.Minute, func() bool { return tr.ended["k"] })
				switch {
				case err != nil:
				case !tr.ended["k"]:
					err = fmt.Errorf("stream ended (close %d) after %d pushes, before the end marker", code, tr.n)
				case tr.n != pushes+1:
					err = fmt.Errorf("%d pushes, want %d", tr.n, pushes+1)
				}
				got <- err
			}()

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=half-frames", addrEnv+"="+s.WSAddr, helperConnsEnv+"="+strconv.Itoa(n))
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			defer stdin.Close()
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			killed := false
			defer func() {
				if !killed {
					cmd.Process.Kill()
					cmd.Wait()
				}
			}()
			ready := make(chan string, 1)
			go func() {
				line, _ := bufio.NewReader(out).ReadString('\n')
				ready <- line
			}()
			select {
			case line := <-ready:
				require.Equal(t, "ready\n", line, "helper: %s", stderr.String())
			case <-time.After(2 * time.Minute):
				t.Fatalf("the helper never got ready: %s", stderr.String())
			}
			conns := s.Hub().Stats().Conns.Load
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				assert.Equal(c, int64(n+1), conns(), "the server holds the helper's %d connections and the bystander", n)
			}, 30*time.Second, 10*time.Millisecond)

			for i := range pushes {
				if i == pushes/2 { // kill -9 while pushes flow
					require.Equal(t, int64(n+1), conns(), "the helper's connections are all open until the kill")
					require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
					err := cmd.Wait()
					killed = true
					var ee *exec.ExitError
					require.True(t, errors.As(err, &ee), "the helper was killed: %v", err)
					assert.Equal(t, syscall.SIGKILL, ee.Sys().(syscall.WaitStatus).Signal())
				}
				require.NoError(t, s.PushGRPC("", "k", payload(int64(i), false, 200), ""), "push %d", i)
			}
			require.NoError(t, s.PushGRPC("", "k", payload(pushes, true, 200), ""))
			require.NoError(t, <-got, "the bystander received every push in order")

			require.Eventually(t, func() bool { return s.Hub().Stats().Conns.Load() == 1 }, 30*time.Second, 10*time.Millisecond,
				"the killed process's connections are closed and forgotten")
			late, err := dial(s.WSAddr, 0, 4096)
			require.NoError(t, err, "a new client connects after the kill")
			require.NoError(t, late.request(`{"code":1,"topic":"late","id":1}`, nil))
			require.NoError(t, s.PushGRPC("", "late", payload(0, true, 20), ""))
			late.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, p, err := late.frame()
			require.NoError(t, err)
			m, err := parse(p)
			require.NoError(t, err)
			assert.Equal(t, msg{kind: kindPush, topic: "late", end: true}, m, "the new client gets its push")
			late.nc.Close()
			sub.nc.Close()
			settle(t, s, base, 0, slack{goroutines: 5, heap: 8 << 20}, 30*time.Second)
		})
	}
}
