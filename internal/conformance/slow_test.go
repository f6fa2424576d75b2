package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/core/wsframe/wsclient"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// TestSlowConsumer: a client that stops reading is closed with 1008 once
// its queue passes the limit, while another subscriber keeps receiving
// everything in order.
func TestSlowConsumer(t *testing.T) {
	eachVariant(t, nil, func(c *server.Config) { c.Limits.MaxQueued = 64 << 10 }, func(t *testing.T, s *st.Server) {
		slow := s.DialRaw(t)
		ok(t, rawRequest(t, slow, `{"code":1,"topic":"s"}`), 1)
		good := s.Dial(t)
		ok(t, good.Request(1, "s", "", 1), 1)

		const maxPushes = 50000
		got := make(chan error, 1)
		pushed := make(chan int, 1)
		var read atomic.Int64
		end := base64.StdEncoding.EncodeToString([]byte("end"))
		go func() { // the good subscriber reads everything, in order, up to the end marker
			for i := 0; ; i++ {
				read.Store(int64(i))
				good.WS.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, b, err := good.WS.ReadMessage()
				if err != nil {
					got <- err
					return
				}
				if strings.Contains(string(b), `"data":"`+end+`"`) {
					if n := <-pushed; i != n {
						got <- fmt.Errorf("received %d pushes before the end marker, %d were made", i, n)
						return
					}
					got <- nil
					return
				}
				if !strings.Contains(string(b), fmt.Sprintf(`"data":"%s`, b64(i))) {
					got <- fmt.Errorf("push %d out of order: %.60s", i, b)
					return
				}
			}
		}()
		payload := make([]byte, 1024)
		n := 0
		for ; n < maxPushes && s.Hub().Stats().SlowConsumers.Load() == 0; n++ {
			for int64(n)-read.Load() > 16 { // the good subscriber keeps up; only the slow one falls behind
				time.Sleep(100 * time.Microsecond)
			}
			copy(payload, fmt.Sprintf("%08d", n))
			require.NoError(t, s.Hub().Publish(context.Background(), core.Push{Topic: "s", Data: payload}))
		}
		pushed <- n
		require.NoError(t, s.Hub().Publish(context.Background(), core.Push{Topic: "s", Data: []byte("end")}))
		require.Equal(t, int64(1), s.Hub().Stats().SlowConsumers.Load(), "the slow client passed the limit within %d pushes", maxPushes)
		require.NoError(t, <-got, "the good subscriber received all %d pushes in order", n)
		slow.NC.SetReadDeadline(time.Now().Add(30 * time.Second))
		rest, err := io.ReadAll(slow.NC)
		require.NoError(t, err, "the server closes the slow client's socket")
		want := core.CloseFrame(1008, "slow consumer")
		assert.True(t, bytes.HasSuffix(rest, want), "the stream ends with close 1008 slow consumer after what the socket held (%d bytes, tail % x)", len(rest), rest[max(0, len(rest)-20):])
	})
}

// b64 is the start of the base64 of push i's payload.
func b64(i int) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%08d", i)))[:8]
}

// TestSlowConsumerLingers: a slow consumer that keeps sending pings while
// it does not read still finds close 1008 after an in-order prefix once it
// reads. The server writes the close frame while the stream before it still
// waits in its send queue; closing the socket then, with the pings unread
// or still arriving, would reset it and lose the close frame: the server
// shuts writing only and reads on until the client's close or EOF.
// Deterministic: the pings are sent after the close frame was written
// (Stats.ClosesWritten), while the client has not read the stream yet.
// nbio, which closes at once (its library owns the socket's end), is not
// tested here.
func TestSlowConsumerLingers(t *testing.T) {
	ours := func(a variants.Axes) bool { return a.Transport != "nbio" }
	eachVariant(t, ours, func(c *server.Config) {
		c.Limits.MaxQueued = 64 << 10
		c.Limits.WriteTimeout = time.Minute // the 1008 path, not the write timeout
		c.FlushBytes = 4 << 10              // batched: the socket fills before the queue passes its limit
	}, func(t *testing.T, s *st.Server) {
		slow := s.DialRaw(t)
		ok(t, rawRequest(t, slow, `{"code":1,"topic":"s"}`), 1)
		payload := make([]byte, 1024)
		n := 0
		for ; n < 50000 && s.Hub().Stats().SlowConsumers.Load() == 0; n++ {
			copy(payload, fmt.Sprintf("%08d", n))
			require.NoError(t, s.Hub().Publish(context.Background(), core.Push{Topic: "s", Data: payload}))
		}
		require.Equal(t, int64(1), s.Hub().Stats().SlowConsumers.Load(), "the client passed the limit within %d pushes", n)
		ping := wsclient.Frame(ws.OpPing, []byte("hb"))
		slow.Write(ping) // read by the server while the close frame waits
		// Read until the close frame is written (it goes out once the socket
		// has room); the stream before it still fills the socket's queue.
		slow.NC.SetReadDeadline(time.Now().Add(30 * time.Second))
		var got bytes.Buffer
		buf := make([]byte, 16<<10)
		written := func() bool { return s.Hub().Stats().ClosesWritten.Load() == 1 }
		for !pollFor(2*time.Millisecond, written) { // the socket refills before the next read: the close frame lands behind a full queue
			k, err := slow.NC.Read(buf)
			got.Write(buf[:k])
			require.NoError(t, err, "reading until the close frame is written (%d bytes)", got.Len())
		}
		for { // a ping per read: the client is slow, not idle
			slow.NC.Write(ping) // after a reset the write fails: the read below reports it
			k, err := slow.NC.Read(buf[:1024])
			got.Write(buf[:k])
			if err == io.EOF {
				break
			}
			require.NoError(t, err, "the stream ends with EOF, not a reset (after %d bytes)", got.Len())
		}
		checkSlowStream(t, got.Bytes(), n)
	})
}

// pollFor reports whether cond holds within d.
func pollFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			return false
		}
	}
	return true
}

// checkSlowStream checks that b, what a slow consumer read after its
// subscribe reply, is pushes in order (fewer than n) and then close 1008.
func checkSlowStream(t *testing.T, b []byte, n int) {
	t.Helper()
	r := wsframe.Reader{R: bufio.NewReader(bytes.NewReader(b)), Max: 1 << 24}
	for i := 0; ; i++ {
		h, p, err := r.Next()
		require.NoError(t, err, "frame %d of %d bytes: the stream ends with a close frame", i, len(b))
		if h.OpCode == ws.OpClose {
			code, _, err := wsframe.ParseClose(p)
			require.NoError(t, err)
			assert.Equal(t, ws.StatusCode(core.ClosePolicy), code, "close 1008 after %d pushes", i)
			assert.Less(t, i, n, "a prefix of the %d pushes", n)
			return
		}
		require.Contains(t, string(p), `"data":"`+b64(i), "push %d in order", i)
	}
}
