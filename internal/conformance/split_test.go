package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core/wsframe"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// rawRequest sends one request and returns its reply.
func rawRequest(t *testing.T, r *st.Raw, req string) st.Msg {
	t.Helper()
	r.Write(st.Text(req))
	return rawRead(t, r)
}

func rawRead(t *testing.T, r *st.Raw) st.Msg {
	t.Helper()
	f, err := r.Next(10 * time.Second)
	require.NoError(t, err)
	var m st.Msg
	require.NoError(t, json.Unmarshal(f.Payload, &m), "decode %q", f.Payload)
	return m
}

// TestSplitFrames: while splitScale connections hold half a frame (stopped
// after 1 byte, after the header, mid-payload, or trickling one byte every
// 50 ms), pushes still reach splitScale other subscribers, and the held and
// trickled frames, once complete, are handled correctly.
func TestSplitFrames(t *testing.T) {
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			s := st.Start(t, v, nil)
			victims := make([]*st.Raw, splitScale)
			for i := range victims {
				victims[i] = s.DialRaw(t)
				ok(t, rawRequest(t, victims[i], `{"code":1,"topic":"v"}`), 1)
			}
			frames := make([][]byte, splitScale)
			attackers := make([]*st.Raw, splitScale)
			for i := range attackers {
				attackers[i] = s.DialRaw(t)
				frames[i] = st.Text(fmt.Sprintf(`{"code":1,"topic":"a%d","id":%d}`, i, i))
				var cut int
				switch i % 4 {
				case 0:
					cut = 1 // inside the 2-byte header
				case 1:
					cut = 6 // header and mask key, no payload
				case 2:
					cut = 6 + (len(frames[i])-6)/2 // mid-payload
				case 3:
					cut = 0 // trickled below
				}
				attackers[i].Write(frames[i][:cut])
				frames[i] = frames[i][cut:]
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // one goroutine trickles for every trickler, to the end of their frames
				defer wg.Done()
				for pos := 0; ; pos++ {
					time.Sleep(50 * time.Millisecond)
					more := false
					for i := 3; i < len(attackers); i += 4 {
						if pos < len(frames[i]) {
							attackers[i].NC.Write(frames[i][pos : pos+1])
							more = more || pos+1 < len(frames[i])
						}
					}
					if !more {
						return
					}
				}
			}()

			const pushes = 5
			start := time.Now()
			for p := range pushes {
				require.NoError(t, s.PushGRPC("", "v", []byte(fmt.Sprint(p)), ""))
			}
			for i, r := range victims {
				for p := range pushes {
					m := rawRead(t, r)
					require.Equal(t, fmt.Sprint(p), string(m.Data), "victim %d push %d", i, p)
				}
			}
			t.Logf("%s: %d pushes reached %d victims beside %d half-frame holders in %v",
				v, pushes, splitScale, splitScale, time.Since(start))

			wg.Wait()
			for i, r := range attackers { // complete every held frame
				if i%4 != 3 {
					r.Write(frames[i])
				}
			}
			for i, r := range attackers {
				m := rawRead(t, r)
				ok(t, m, 1)
				assert.Equal(t, fmt.Sprint(i), string(m.ID), "attacker %d's frame, completed, is handled", i)
				assert.Equal(t, fmt.Sprintf("a%d", i), m.Topic)
			}
		})
	}
}

// eventLoops are the transports that serve connections from an event loop
// rather than a goroutine each.
var eventLoops = map[string]bool{"epoll": true, "nbio": true}

// TestIdleGoroutines: on the event-loop transports, goroutines do not grow
// with idle connections.
func TestIdleGoroutines(t *testing.T) {
	for _, v := range variants.Names() {
		if a, _ := variants.AxesOf(v); !eventLoops[a.Transport] {
			continue
		}
		t.Run("variant="+v, func(t *testing.T) {
			s := st.Start(t, v, nil)
			base := runtime.NumGoroutine()
			const n = 2000
			conns := make([]*st.Raw, n)
			for i := range conns {
				conns[i] = s.DialRaw(t)
			}
			require.Eventually(t, func() bool { return s.Hub().Stats().Conns.Load() == n }, 10*time.Second, 10*time.Millisecond)
			var got int
			deadline := time.Now().Add(5 * time.Second)
			for got = runtime.NumGoroutine(); got-base > 10 && time.Now().Before(deadline); got = runtime.NumGoroutine() {
				time.Sleep(10 * time.Millisecond) // the upgrades' HTTP handler goroutines end
			}
			assert.LessOrEqual(t, got-base, 10, "goroutines at 0 connections: %d, at %d: %d", base, n, got)
		})
	}
}

// TestSplitHandshakes: while splitScale sockets hold half an upgrade request
// (cut after the request line, mid-header, or one byte short of the end),
// other clients upgrade, subscribe and get pushes; the held requests, once
// complete, upgrade, and their connections serve. On the epoll variants the
// loops read those requests (no goroutine per socket); on the others
// net/http's goroutines do: a half request blocks no one either way.
func TestSplitHandshakes(t *testing.T) {
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			s := st.Start(t, v, nil)
			req := []byte(upgradeRequest(s.WSAddr, "/ws"))
			held := make([]net.Conn, splitScale)
			rest := make([][]byte, splitScale)
			for i := range held {
				cut := []int{bytes.Index(req, []byte("\r\n")) + 2, len(req) / 2, len(req) - 1}[i%3]
				nc, err := net.Dial("tcp", s.WSAddr)
				require.NoError(t, err)
				t.Cleanup(func() { nc.Close() })
				_, err = nc.Write(req[:cut])
				require.NoError(t, err)
				held[i], rest[i] = nc, req[cut:]
			}
			const victims = 20
			var vs []*st.Raw
			for range victims {
				r := s.DialRaw(t)
				ok(t, rawRequest(t, r, `{"code":1,"topic":"v"}`), 1)
				vs = append(vs, r)
			}
			require.NoError(t, s.PushGRPC("", "v", []byte("beside half requests"), ""))
			for i, r := range vs {
				assert.Equal(t, "beside half requests", string(rawRead(t, r).Data), "victim %d", i)
			}
			for i, nc := range held {
				_, err := nc.Write(rest[i])
				require.NoError(t, err)
			}
			for i, nc := range held {
				require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)), "a safety net, not a timing")
				br := bufio.NewReader(nc)
				resp, err := http.ReadResponse(br, nil)
				require.NoError(t, err, "held request %d", i)
				resp.Body.Close()
				require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode, "held request %d, completed", i)
				_, err = nc.Write(st.Text(fmt.Sprintf(`{"code":1,"topic":"h%d","id":%d}`, i, i)))
				require.NoError(t, err)
				_, payload, err := (&wsframe.Reader{R: br}).Next()
				require.NoError(t, err, "held request %d: its connection serves", i)
				assert.Contains(t, string(payload), fmt.Sprintf(`"topic":"h%d"`, i))
			}
		})
	}
}
