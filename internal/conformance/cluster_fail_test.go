package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpush/gpush/internal/natstest"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// collector reads every message of a client on its own goroutine.
type collector struct {
	mu     sync.Mutex
	msgs   []st.Msg
	pushes atomic.Int64 // pushes (code 7) read
	done   chan struct{}
}

func collect(c *st.Client, until string) *collector {
	col := &collector{done: make(chan struct{})}
	go func() {
		defer close(col.done)
		for {
			c.WS.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, b, err := c.WS.ReadMessage()
			if err != nil {
				return
			}
			var m st.Msg
			if json.Unmarshal(b, &m) != nil {
				return
			}
			col.mu.Lock()
			col.msgs = append(col.msgs, m)
			col.mu.Unlock()
			if m.Code == 7 {
				col.pushes.Add(1)
			}
			if string(m.Data) == until {
				return
			}
		}
	}()
	return col
}

// resyncs counts the code 10 notices read so far.
func (col *collector) resyncs() int {
	col.mu.Lock()
	defer col.mu.Unlock()
	n := 0
	for _, m := range col.msgs {
		if m.Code == 10 {
			n++
		}
	}
	return n
}

// flooder pushes numbers one after another on a node until stopped, and
// records which calls were accepted.
type flooder struct {
	mu          sync.Mutex
	accepted    map[int]bool
	refused     atomic.Int64 // answered Unavailable
	unexpected  []error
	next        int
	stop, ended chan struct{}
}

func flood(s *st.Server, topic string) *flooder {
	f := &flooder{accepted: map[int]bool{}, stop: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(f.ended)
		for i := 0; ; i++ {
			select {
			case <-f.stop:
				return
			default:
			}
			err := s.PushGRPC("", topic, []byte(strconv.Itoa(i)), "")
			f.mu.Lock()
			switch {
			case err == nil:
				f.accepted[i] = true
			case status.Code(err) == codes.Unavailable:
				f.refused.Add(1)
			default:
				f.unexpected = append(f.unexpected, err)
			}
			f.next = i + 1
			f.mu.Unlock()
		}
	}()
	return f
}

// checkNoSilentLoss walks what a subscriber read: pushes in order, and
// every accepted push either read or followed by a resync notice (code 10)
// before the next push read.
func checkNoSilentLoss(t *testing.T, msgs []st.Msg, accepted map[int]bool, total int) {
	last, resynced, read := -1, false, 0
	gap := func(from, to int) {
		for k := from; k < to; k++ {
			if accepted[k] && !resynced {
				t.Fatalf("accepted push %d was lost with no resync notice before the next push", k)
			}
		}
	}
	for _, m := range msgs {
		switch {
		case m.Code == 10:
			resynced = true
		case m.Code == 7 && string(m.Data) != "end":
			n, err := strconv.Atoi(string(m.Data))
			require.NoError(t, err)
			require.Greater(t, n, last, "pushes accepted one after another arrive in order")
			gap(last+1, n)
			last, resynced = n, false
			read++
		}
	}
	gap(last+1, total)
	assert.Greater(t, read, 0)
}

// TestClusterBrokerRestart: the NATS server stops in the middle of a flood
// of pushes made on one node to a subscriber on another. During the outage
// pushes answer 503, subscribes 503 "broker unavailable", upgrades and
// /readyz 503; after it, clients get the resync notice (code 10) and pushes
// flow again; no accepted push is lost without a resync notice; nothing
// leaks.
func TestClusterBrokerRestart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	nats := natstest.Start(t)
	nodes := startNodes(t, 2, nats.URL(), nil)
	a, b := nodes[0], nodes[1]
	c, idle := a.Dial(t), a.Dial(t)
	ok(t, c.Request(1, "flood", "", 1), 1)
	ok(t, idle.Request(1, "held", "", 1), 1)
	col := collect(c, "end")
	f := flood(b, "flood")
	waitFor(t, func() bool { return col.pushes.Load() >= 200 }, "pushes before the outage")

	nats.Stop()
	waitFor(t, func() bool { return f.refused.Load() >= 20 }, "pushes refused during the outage")
	for _, n := range nodes {
		assert.Equal(t, http.StatusServiceUnavailable, n.Ready(), "/readyz while the link is down")
	}
	status_(t, idle.Request(1, "other", "", 2), 1, 503)
	status_(t, idle.Request(1, "held", "", 2), 1, 503) // held already: refused all the same while down
	_, resp, err := websocket.DefaultDialer.Dial(a.WSURL, nil)
	require.Error(t, err, "no upgrade while the link is down")
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, metricsText(t, a), "gpush_broker_up 0")

	nats.Restart(t)
	for _, n := range nodes {
		waitFor(t, func() bool { return n.Ready() == http.StatusOK }, "/readyz after the link returned")
	}
	m := idle.Read()
	assert.Equal(t, 10, m.Code, "every connection gets the resync notice")
	require.NotNil(t, m.Status)
	assert.Equal(t, 503, *m.Status)
	assert.NotEmpty(t, m.Message)
	before := col.pushes.Load()
	waitFor(t, func() bool { return col.resyncs() == 1 && col.pushes.Load() >= before+200 }, "pushes after the outage")
	close(f.stop)
	<-f.ended
	require.NoError(t, b.PushGRPC("", "flood", []byte("end"), ""))
	<-col.done
	assert.Empty(t, f.unexpected, "pushes fail with Unavailable only")
	checkNoSilentLoss(t, col.msgs, f.accepted, f.next)
	ok(t, idle.Request(1, "other", "", 3), 1)
	ok(t, idle.Request(1, "held", "", 4), 1)
	text := metricsText(t, a)
	for _, want := range []string{"gpush_broker_up 1", "gpush_broker_reconnects_total 1", "gpush_broker_link_losses_total 1"} {
		assert.Contains(t, text, want)
	}
	assert.Regexp(t, `gpush_broker_pushes_refused_total\{reason="down"\} 0\n`, metricsText(t, a), "a pushed nothing")
	assert.NotRegexp(t, `gpush_broker_pushes_refused_total\{reason="down"\} 0\n`, metricsText(t, b), "b counted its refusals")
	stopAll(t, nodes, nats)
}

// TestClusterStartsWithoutBroker: a node starts with its broker unreachable,
// answers 503 meanwhile, and becomes ready once the broker is up.
func TestClusterStartsWithoutBroker(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	nats := natstest.Start(t)
	nats.Stop()
	s := st.StartUnready(t, variants.Default, func(c *server.Config) { c.Broker = nats.URL() })
	waitFor(t, func() bool { return s.Ready() == http.StatusServiceUnavailable }, "serving, not ready")
	code, body, err := s.PushHTTP(st.PushJSON("", "t", []byte("x")), "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, code, "a push while the broker is unreachable: %s", body)
	nats.Restart(t)
	waitFor(t, func() bool { return s.Ready() == http.StatusOK }, "ready once the broker is up")
	c := s.Dial(t)
	ok(t, c.Request(1, "t", "", 1), 1)
	require.NoError(t, s.PushGRPC("", "t", []byte("x"), ""))
	assert.Equal(t, "x", string(c.Read().Data))
	s.Stop(t)
	nats.Stop()
}

// TestClusterInterestChurn: clients on three nodes subscribe and unsubscribe
// about 300 times a second (450 cycles); afterwards no subscription is left at the broker
// but each node's push-to-all, and the unsubscribe delay spared the broker
// most of the churn.
func TestClusterInterestChurn(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	nats := natstest.Start(t)
	base := nats.NumSubscriptions() // the server's own
	nodes := startNodes(t, 3, nats.URL(), func(c *server.Config) { c.BrokerUnsubDelay = 300 * time.Millisecond })
	var cycles atomic.Int64
	start := time.Now()
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for i := range 9 {
		c := nodes[i%3].Dial(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- churn(c, 50, &cycles)
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(450), cycles.Load(), "every cycle answered")
	waitFor(t, func() bool { return nats.NumSubscriptions() == base+3 }, "only the three push-to-all subscriptions left")
	var sent int64
	for _, n := range nodes {
		assert.Equal(t, int64(1), n.Broker().Stats().Subjects.Load(), "each node holds push-to-all only")
		sent += n.Broker().Stats().Subscribes.Load() - 1
	}
	assert.Less(t, sent, cycles.Load()*3/4, "the unsubscribe delay keeps a churned subject subscribed")
	t.Logf("%d subscribe/unsubscribe cycles in %v (%.0f a second), %d subscriptions sent to the broker",
		cycles.Load(), took.Round(time.Millisecond), float64(cycles.Load())/took.Seconds(), sent)
	stopAll(t, nodes, nats)
}

// churn subscribes and unsubscribes random topics of a small pool, n
// cycles, one every 30 ms (under the request rate limit): nine clients make
// about 300 a second.
func churn(c *st.Client, n int, cycles *atomic.Int64) error {
	tick := time.NewTicker(30 * time.Millisecond)
	defer tick.Stop()
	for range n {
		<-tick.C
		topic := fmt.Sprintf("churn-%d", rand.IntN(20))
		for _, code := range []int{1, 2} {
			if err := c.WS.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"code":%d,"topic":%q}`, code, topic)); err != nil {
				return err
			}
			c.WS.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, b, err := c.WS.ReadMessage()
			if err != nil {
				return err
			}
			if !strings.Contains(string(b), `"status":0`) {
				return fmt.Errorf("reply %s", b)
			}
		}
		cycles.Add(1)
	}
	return nil
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, what)
}

func metricsText(t *testing.T, s *st.Server) string {
	resp, err := http.Get(s.HTTPURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
