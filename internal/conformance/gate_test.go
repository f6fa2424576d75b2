package conformance

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core/wsframe/wsclient"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// upgradeRequest is a valid upgrade request to path with extra header lines.
var upgradeRequest = wsclient.UpgradeRequest

// exchange sends req on a fresh socket and returns the response status and
// whether the server then closed the socket within d.
func exchange(t *testing.T, addr, req string, d time.Duration) (status int, closed bool) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	_, err = nc.Write([]byte(req))
	require.NoError(t, err)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "a response to %.40q", req)
	resp.Body.Close()
	return resp.StatusCode, closedWithin(nc, br, d)
}

// closedWithin reports whether the server closed nc within d: reads reach
// EOF or a reset, not the deadline.
func closedWithin(nc net.Conn, br *bufio.Reader, d time.Duration) bool {
	nc.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, br)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}

// TestRefusedUpgradeCloses: every refused upgrade (404, 400, 403, 426 or
// 400 for a bad version, 503 at max-conns) closes its connection after the
// response: no keep-alive socket outside max-conns, and on the epoll
// variants no taken-over socket left for a garbage collection to close.
// Request headers past 16 KiB get 431.
func TestRefusedUpgradeCloses(t *testing.T) {
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			s := st.Start(t, v, func(c *server.Config) { c.AllowedOrigins = []string{"https://app.example.com"} })
			h := s.WSAddr
			refused := []struct {
				name, req string
				want      []int
			}{
				{"wrong path", upgradeRequest(h, "/nope"), []int{404}},
				{"no key", strings.Replace(upgradeRequest(h, "/ws"), "Sec-WebSocket-Key: "+wsclient.Key+"\r\n", "", 1), []int{400}},
				{"bad version", strings.Replace(upgradeRequest(h, "/ws"), "Version: 13", "Version: 12", 1), []int{400, 426}},
				{"not an upgrade", "GET /ws HTTP/1.1\r\nHost: " + h + "\r\n\r\n", []int{400, 426}},
				{"origin", upgradeRequest(h, "/ws", "Origin: https://evil.example.com\r\n"), []int{403}},
				{"headers over 16 KiB", upgradeRequest(h, "/ws", "Cookie: "+strings.Repeat("a", 24<<10)+"\r\n"), []int{431}},
			}
			for _, tc := range refused {
				code, closed := exchange(t, h, tc.req, 2*time.Second)
				assert.Contains(t, tc.want, code, "%s: status", tc.name)
				assert.True(t, closed, "%s: the server closes the connection after its %d", tc.name, code)
			}
			code, _ := exchange(t, h, upgradeRequest(h, "/ws", "Cookie: "+strings.Repeat("a", 12<<10)+"\r\n"), 0)
			assert.Equal(t, http.StatusSwitchingProtocols, code, "12 KiB of headers are within the limit")

			full := st.Start(t, v, func(c *server.Config) { c.MaxConns = 1 })
			c := full.Dial(t) // takes the only slot
			code, closed := exchange(t, full.WSAddr, upgradeRequest(full.WSAddr, "/ws"), 2*time.Second)
			assert.Equal(t, 503, code, "over max-conns")
			assert.True(t, closed, "over max-conns: the server closes the connection after its 503")
			c.WS.Close()
		})
	}
}

// TestOriginRefusalFreesSlot: an upgrade refused for its Origin gives back
// the slot it reserved, once: at -max-conns 1, after such refusals the one
// slot still opens a connection (a slot kept would make it wait for ever),
// and the next upgrade is refused (a slot given back twice would admit it).
func TestOriginRefusalFreesSlot(t *testing.T) {
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			s := st.Start(t, v, func(c *server.Config) {
				c.MaxConns = 1
				c.AllowedOrigins = []string{"https://app.example.com"}
			})
			h := s.WSAddr
			for range 3 {
				code, _ := exchange(t, h, upgradeRequest(h, "/ws", "Origin: https://evil.example.com\r\n"), 0)
				require.Equal(t, http.StatusForbidden, code)
			}
			s.DialRaw(t) // the one slot
			code, _ := exchange(t, h, upgradeRequest(h, "/ws", "Origin: https://app.example.com\r\n"), 0)
			assert.Equal(t, http.StatusServiceUnavailable, code, "over max-conns")
		})
	}
}

// TestMaxConnsConcurrentUpgrades: many upgrades at once open exactly
// -max-conns connections, never more (the slot is reserved at the gate,
// before the handshake), and slots come back when connections close.
func TestMaxConnsConcurrentUpgrades(t *testing.T) {
	const limit, dials, rounds = 5, 100, 4
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			s := st.Start(t, v, func(c *server.Config) { c.MaxConns = limit })
			for round := range rounds {
				open := dialAll(t, s.WSURL, dials)
				assert.LessOrEqual(t, len(open), limit, "round %d: %d of %d parallel upgrades opened, limit %d", round, len(open), dials, limit)
				assert.GreaterOrEqual(t, len(open), limit, "round %d: an upgrade is refused only when the limit is reached", round)
				assert.LessOrEqual(t, s.Hub().Stats().Conns.Load(), int64(limit), "round %d: the hub's count", round)
				for _, ws := range open {
					ws.Close()
				}
				require.Eventually(t, func() bool { return s.Hub().Stats().Conns.Load() == 0 }, 5*time.Second, 5*time.Millisecond)
			}
			var held []*websocket.Conn
			for i := range limit { // every slot came back
				ws, resp, err := websocket.DefaultDialer.Dial(s.WSURL, nil)
				require.NoError(t, err, "dial %d of %d after the rounds", i+1, limit)
				resp.Body.Close()
				held = append(held, ws)
			}
			_, resp, err := websocket.DefaultDialer.Dial(s.WSURL, nil)
			require.Error(t, err, "one more than the limit")
			if resp != nil {
				assert.Equal(t, 503, resp.StatusCode)
			}
			for _, ws := range held {
				ws.Close()
			}
		})
	}
}

// dialAll dials n upgrades at once and returns those that opened.
func dialAll(t *testing.T, url string, n int) []*websocket.Conn {
	var (
		mu    sync.Mutex
		open  []*websocket.Conn
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
			if resp != nil {
				resp.Body.Close()
			}
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, ws)
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	t.Logf("%d of %d parallel upgrades opened", len(open), n)
	return open
}
