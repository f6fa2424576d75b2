package conformance

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
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
