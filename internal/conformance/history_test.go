package conformance

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// historyCases are the rules of docs/protocol.md, History and recovery, each
// against a fresh server of every variant with history on (but for
// history-off).
var historyCases = []struct {
	name  string
	tweak func(*server.Config)
	run   func(t *testing.T, s *st.Server)
}{
	{"offsets", nil, testHistOffsets},
	{"recover", nil, testHistRecover},
	{"unsubscribed", nil, testHistUnsubscribed},
	{"not-recovered", func(c *server.Config) { c.HistorySize = 3 }, testHistNotRecovered},
	{"queue-limit", func(c *server.Config) { c.Limits.MaxQueued = 4096 }, testHistQueueLimit},
	{"bad-since", nil, testHistBadSince},
	{"refused-no-state", func(c *server.Config) { c.Limits.MaxSubs = 1 }, testHistRefusedNoState},
	{"expiry", func(c *server.Config) { c.HistoryTTL = 200 * time.Millisecond }, testHistExpiry},
	{"exactly-once", func(c *server.Config) { c.HistorySize = 10000 }, testHistExactlyOnce},
	{"raw", func(c *server.Config) { c.PushFormat = "raw" }, testHistRaw},
	{"history-off", func(c *server.Config) { c.HistorySize = 0 }, testHistOff},
}

func TestHistory(t *testing.T) {
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			for _, c := range historyCases {
				t.Run(c.name, func(t *testing.T) {
					defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
					s := st.Start(t, v, func(cfg *server.Config) {
						cfg.JWTSecret = secret
						cfg.HistorySize = 100
						if c.tweak != nil {
							c.tweak(cfg)
						}
					})
					c.run(t, s)
					s.Stop(t)
				})
			}
		})
	}
}

// since formats a since object.
func since(off uint64, epoch string) string {
	return fmt.Sprintf(`{"offset":%d,"epoch":%q}`, off, epoch)
}

// subscribeSince sends a subscribe (code 1 or 5) of topic, with since when
// not empty, and returns its reply, which must be the next message.
func subscribeSince(t *testing.T, c *st.Client, code int, topic, sinceJSON string, id int) st.Msg {
	t.Helper()
	msg := fmt.Sprintf(`{"code":%d,"topic":%q,"id":%d`, code, topic, id)
	if sinceJSON != "" {
		msg += `,"since":` + sinceJSON
	}
	c.Send(msg + "}")
	m := c.Read()
	require.Equal(t, strconv.Itoa(id), string(m.ID), "the reply to %s comes next", msg)
	return m
}

// position checks a successful subscribe reply with history on and returns
// its offset and epoch.
func position(t *testing.T, m st.Msg, code int) (uint64, string) {
	t.Helper()
	ok(t, m, code)
	require.NotNil(t, m.Offset, "a successful subscribe reply carries offset: %+v", m)
	require.NotNil(t, m.Epoch, "and epoch: %+v", m)
	assert.NotEmpty(t, *m.Epoch)
	return *m.Offset, *m.Epoch
}

// recovered checks the reply's recovered field.
func recovered(t *testing.T, m st.Msg, want bool, why string) {
	t.Helper()
	require.NotNil(t, m.Recovered, "%s: recovered is there when since was sent: %+v", why, m)
	assert.Equal(t, want, *m.Recovered, why)
}

func pushN(t *testing.T, s *st.Server, uid, topic string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		require.NoError(t, s.PushGRPC(uid, topic, []byte(strconv.Itoa(i)), ""))
	}
}

// readPushes reads n pushes and checks their offsets run from first on,
// with data equal to the offset.
func readPushes(t *testing.T, c *st.Client, first uint64, n int, why string) {
	t.Helper()
	for i := range n {
		m := c.Read()
		require.NotNil(t, m.Offset, "%s: a push on a channel carries offset: %+v", why, m)
		assert.Equal(t, first+uint64(i), *m.Offset, "%s: offsets in order without gaps", why)
		assert.Equal(t, strconv.FormatUint(*m.Offset, 10), string(m.Data), why)
	}
}

// marker pushes to every connection and checks it is c's next message:
// nothing else came before it.
func marker(t *testing.T, s *st.Server, c *st.Client, why string) {
	t.Helper()
	require.NoError(t, s.PushGRPC("", "", []byte("marker"), ""))
	m := c.Read()
	assert.Equal(t, 9, m.Code, "%s: the next message is the marker, got %+v", why, m)
	assert.Nil(t, m.Offset, "a push to every connection carries no offset")
}

func testHistOffsets(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	off, epoch := position(t, subscribeSince(t, c, 1, "news", "", 1), 1)
	assert.Zero(t, off, "no push yet")
	assert.GreaterOrEqual(t, len(epoch), 16, "an epoch holds 64 random bits at least")
	assert.Nil(t, subscribeSince(t, c, 1, "news", "", 2).Recovered, "recovered only when since was sent")
	pushN(t, s, "", "news", 1, 3)
	readPushes(t, c, 1, 3, "gRPC pushes")
	code, _, err := s.PushHTTP(st.PushJSON("", "news", []byte("4")), "")
	require.NoError(t, err)
	require.Equal(t, 200, code)
	readPushes(t, c, 4, 1, "an HTTP push")
	off, again := position(t, subscribeSince(t, c, 1, "news", "", 3), 1)
	assert.Equal(t, uint64(4), off, "the reply's offset is the last issued")
	assert.Equal(t, epoch, again, "one sequence")

	login(t, c, "ann")
	off, priv := position(t, subscribeSince(t, c, 5, "news", "", 4), 5)
	assert.Zero(t, off, "ann's private news is a sequence of its own")
	assert.NotEqual(t, epoch, priv)
	pushN(t, s, "ann", "news", 1, 2)
	readPushes(t, c, 1, 2, "private pushes")
	marker(t, s, c, "offsets")

	d := s.Dial(t)
	login(t, d, "ann")
	m := subscribeSince(t, d, 5, "news", since(0, priv), 5)
	recovered(t, m, true, "a private channel recovers too")
	readPushes(t, d, 1, 2, "the private replay")
	other := s.Dial(t)
	login(t, other, "bob")
	recovered(t, subscribeSince(t, other, 5, "news", since(0, priv), 6), false, "another user's channel is another sequence")
	marker(t, s, other, "bob gets none of ann's pushes")
}

// testHistUnsubscribed: a channel keeps its pushes while nobody
// subscribes, and a later subscribe with since gets them.
func testHistUnsubscribed(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	_, epoch := position(t, subscribeSince(t, c, 1, "t", "", 1), 1)
	ok(t, c.Request(2, "t", "", 2), 2)
	pushN(t, s, "", "t", 1, 3)
	m := subscribeSince(t, c, 1, "t", since(0, epoch), 3)
	recovered(t, m, true, "pushes kept without a subscriber")
	readPushes(t, c, 1, 3, "the replay")
	marker(t, s, c, "each once")
}

func testHistRecover(t *testing.T, s *st.Server) {
	live := s.Dial(t)
	_, epoch := position(t, subscribeSince(t, live, 1, "t", "", 1), 1)
	pushN(t, s, "", "t", 1, 5)
	var frames [][]byte
	for range 5 {
		frames = append(frames, live.ReadRaw(5*time.Second))
	}

	c := s.Dial(t)
	m := subscribeSince(t, c, 1, "t", since(2, epoch), 1)
	recovered(t, m, true, "every push after 2 is kept")
	off, e := position(t, m, 1)
	assert.Equal(t, uint64(5), off)
	assert.Equal(t, epoch, e)
	for i := 2; i < 5; i++ {
		assert.Equal(t, string(frames[i]), string(c.ReadRaw(5*time.Second)), "replay %d: the bytes delivered live", i+1)
	}
	pushN(t, s, "", "t", 6, 6)
	readPushes(t, c, 6, 1, "a newer push arrives live after the replay")

	m = subscribeSince(t, c, 1, "t", since(6, epoch), 2)
	recovered(t, m, true, "since at the reply's offset, already subscribed")
	marker(t, s, c, "nothing to replay")
	m = subscribeSince(t, c, 1, "t", since(4, epoch), 3)
	recovered(t, m, true, "already subscribed: since is honoured")
	readPushes(t, c, 5, 2, "the replay")
	marker(t, s, c, "each once")
}

func testHistNotRecovered(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	_, epoch := position(t, subscribeSince(t, c, 1, "t", "", 1), 1)
	pushN(t, s, "", "t", 1, 5)
	readPushes(t, c, 1, 5, "live")
	for i, tc := range []struct{ why, since string }{
		{"another epoch", since(4, epoch+"x")},
		{"since above the offset", since(100, epoch)},
		{"push 2 is no longer kept (size 3)", since(1, epoch)},
	} {
		d := s.Dial(t)
		m := subscribeSince(t, d, 1, "t", tc.since, i)
		recovered(t, m, false, tc.why)
		off, _ := position(t, m, 1)
		assert.Equal(t, uint64(5+i), off, tc.why)
		marker(t, s, d, tc.why+": nothing replayed")
		assert.Equal(t, 9, c.Read().Code, "the subscriber got the marker too")
		pushN(t, s, "", "t", 6+i, 6+i)
		readPushes(t, d, uint64(6+i), 1, tc.why+": live from the reply on")
		readPushes(t, c, uint64(6+i), 1, "live")
	}
	d := s.Dial(t)
	m := subscribeSince(t, d, 1, "fresh", since(0, epoch), 9)
	recovered(t, m, false, "a channel with no state")
	marker(t, s, d, "nothing replayed")
}

func testHistQueueLimit(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	_, epoch := position(t, subscribeSince(t, c, 1, "t", "", 1), 1)
	big := make([]byte, 600)
	for range 10 { // read each at once: the live queue never nears the limit
		require.NoError(t, s.PushGRPC("", "t", big, ""))
		c.Read()
	}
	m := subscribeSince(t, c, 1, "t", since(0, epoch), 2)
	recovered(t, m, false, "ten frames of 800 bytes pass the 4 KiB queue limit")
	marker(t, s, c, "nothing replayed, and the connection stays open")
	m = subscribeSince(t, c, 1, "t", since(8, epoch), 3)
	recovered(t, m, true, "two frames fit")
	for range 2 {
		assert.Len(t, c.Read().Data, 600)
	}
}

func testHistBadSince(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	for i, bad := range []string{`"x"`, `{}`, `{"offset":1}`, `{"epoch":"e"}`, `{"offset":-1,"epoch":"e"}`,
		`{"offset":1.5,"epoch":"e"}`, `{"offset":9007199254740992,"epoch":"e"}`, `{"offset":"1","epoch":"e"}`,
		`{"offset":1,"epoch":7}`} {
		for _, code := range []int{1, 5} {
			m := subscribeSince(t, c, code, "t", bad, i)
			status_(t, m, code, 400) // code 5 without login: 400, not 401
			assert.Contains(t, m.Message, "since", "the message names since")
		}
	}
	c.Send(`{"code":2,"topic":"t","since":"x","id":50}`)
	ok(t, c.Read(), 2) // ignored on other codes
	m := subscribeSince(t, c, 1, "t", `{"offset":9007199254740991,"epoch":""}`, 51)
	recovered(t, m, false, "the largest offset is valid")
}

func testHistRefusedNoState(t *testing.T, s *st.Server) {
	st := s.Hub().Stats()
	c := s.Dial(t)
	status_(t, subscribeSince(t, c, 5, "p", since(0, "e"), 1), 5, 401)
	status_(t, subscribeSince(t, c, 1, "a b", since(0, "e"), 2), 1, 400)
	assert.Zero(t, st.HistoryChannels.Load(), "401 and 400 make no state")
	position(t, subscribeSince(t, c, 1, "one", "", 3), 1)
	status_(t, subscribeSince(t, c, 1, "two", since(0, "e"), 4), 1, 429)
	assert.Equal(t, int64(1), st.HistoryChannels.Load(), "429 makes no state")
	marker(t, s, c, "a refused subscribe replays nothing")
	assert.Equal(t, int64(1), st.HistoryChannels.Load(), "a push to every connection has no history")
}

func testHistExpiry(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	_, epoch := position(t, subscribeSince(t, c, 1, "t", "", 1), 1)
	pushN(t, s, "", "t", 1, 2)
	readPushes(t, c, 1, 2, "live")
	require.Eventually(t, func() bool { return s.Hub().Stats().HistoryPushes.Load() == 0 }, 5*time.Second, 10*time.Millisecond,
		"kept pushes are dropped after the TTL")
	m := subscribeSince(t, c, 1, "t", since(0, epoch), 2)
	recovered(t, m, false, "pushes no longer kept")
	off, e := position(t, m, 1)
	assert.Equal(t, epoch, e, "a subscribed channel keeps its sequence")
	assert.Equal(t, uint64(2), off)
	recovered(t, subscribeSince(t, c, 1, "t", since(2, epoch), 3), true, "nothing missed")

	ok(t, c.Request(2, "t", "", 4), 2)
	probe := s.Dial(t)
	deadline := time.Now().Add(5 * time.Second)
	for id := 10; ; id++ { // subscribing keeps the sequence: leave again after each look
		_, e := position(t, subscribeSince(t, probe, 1, "t", "", id), 1)
		ok(t, probe.Request(2, "t", "", 1000+id), 2)
		if e != epoch {
			break
		}
		require.True(t, time.Now().Before(deadline), "without a subscriber the sequence ends")
		time.Sleep(20 * time.Millisecond)
	}
	m = subscribeSince(t, c, 1, "t", since(2, epoch), 5)
	recovered(t, m, false, "an ended sequence does not recover")
	off, e = position(t, m, 1)
	assert.NotEqual(t, epoch, e, "a new sequence, a new epoch")
	assert.Zero(t, off, "numbered from the start")
}

// testHistExactlyOnce: while a pusher runs, a client resubscribes with
// since over and over, on new connections and on the same one; it sees
// every push exactly once, in order.
func testHistExactlyOnce(t *testing.T, s *st.Server) {
	const n = 300
	first := s.Dial(t)
	_, epoch := position(t, subscribeSince(t, first, 1, "t", "", 1), 1)
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			if err := s.PushGRPC("", "t", []byte(strconv.Itoa(i)), ""); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var last uint64
	for round := 0; last < n; round++ {
		c := s.Dial(t)
		last = followFor(t, c, epoch, last, n, 20)
		if round%2 == 0 { // again on the same connection, still subscribed
			last = followFor(t, c, epoch, last, n, 20)
		}
		c.WS.Close()
	}
	require.NoError(t, <-done)
	assert.Equal(t, uint64(n), last)
}

// followFor subscribes with since {last, epoch}, reads up to k pushes (or
// until the last one), checks that each comes once in order after the
// reply, and returns the last offset seen. A connection already
// subscribed may get live pushes before the reply: they are skipped, as a
// client does, by offset.
func followFor(t *testing.T, c *st.Client, epoch string, last, n uint64, k int) uint64 {
	t.Helper()
	c.Send(`{"code":1,"topic":"t","id":7,"since":` + since(last, epoch) + `}`)
	m := c.Read()
	for m.Code == 7 { // live pushes queued before the reply
		m = c.Read()
	}
	recovered(t, m, true, "everything is kept")
	for range k {
		if last == n {
			break
		}
		p := c.Read()
		require.NotNil(t, p.Offset)
		require.Equal(t, last+1, *p.Offset, "each push once, in order")
		last = *p.Offset
	}
	return last
}

func testHistRaw(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	_, epoch := position(t, subscribeSince(t, c, 1, "t", "", 1), 1)
	pushN(t, s, "", "t", 1, 2)
	for _, want := range []string{"1", "2"} {
		assert.Equal(t, want, string(c.ReadRaw(5*time.Second)), "a raw frame carries no offset")
	}
	d := s.Dial(t)
	m := subscribeSince(t, d, 1, "t", since(1, epoch), 2)
	recovered(t, m, true, "raw pushes are kept too")
	off, _ := position(t, m, 1)
	assert.Equal(t, uint64(2), off, "offsets count raw pushes")
	assert.Equal(t, "2", string(d.ReadRaw(5*time.Second)), "the replayed raw frame")
}

func testHistOff(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	m := subscribeSince(t, c, 1, "t", since(0, "e"), 1)
	ok(t, m, 1)
	recovered(t, m, false, "history off")
	assert.Nil(t, m.Offset, "no offset without history")
	assert.Nil(t, m.Epoch, "no epoch without history")
	require.NoError(t, s.PushGRPC("", "t", []byte("x"), ""))
	p := c.Read()
	assert.Equal(t, "x", string(p.Data))
	assert.Nil(t, p.Offset, "pushes carry no offset without history")
	assert.Zero(t, s.Hub().Stats().HistoryChannels.Load())
}

// TestHistoryRestart: a restarted server starts every channel in a new
// epoch, so a client that saw the old one is told recovered false.
func TestHistoryRestart(t *testing.T) {
	tweak := func(c *server.Config) { c.HistorySize = 10 }
	s := st.Start(t, variants.Default, tweak)
	c := s.Dial(t)
	_, epoch := position(t, subscribeSince(t, c, 1, "t", "", 1), 1)
	require.NoError(t, s.PushGRPC("", "t", []byte("1"), ""))
	s.Stop(t)
	s = st.Start(t, variants.Default, tweak)
	c = s.Dial(t)
	m := subscribeSince(t, c, 1, "t", since(0, epoch), 1)
	recovered(t, m, false, "another process, another epoch")
	_, e := position(t, m, 1)
	assert.NotEqual(t, epoch, e)
}

// TestHistorySplitFrames: subscribes with since arrive split into single
// bytes, while pushes run; the replay and the live pushes still come once
// each, in order, on every variant.
func TestHistorySplitFrames(t *testing.T) {
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			s := st.Start(t, v, func(c *server.Config) { c.HistorySize = 1000 })
			first := s.DialRaw(t)
			m := rawRequest(t, first, `{"code":1,"topic":"t"}`)
			_, epoch := position(t, m, 1)
			const n = 60
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 1; i <= n; i++ {
					assert.NoError(t, s.PushGRPC("", "t", []byte(strconv.Itoa(i)), ""))
					time.Sleep(2 * time.Millisecond)
				}
			}()
			var last uint64
			for last < n {
				r := s.DialRaw(t)
				frame := st.Text(`{"code":1,"topic":"t","since":` + since(last, epoch) + `}`)
				for i := range frame { // one TCP segment per byte
					r.Write(frame[i : i+1])
					time.Sleep(100 * time.Microsecond)
				}
				m := rawRead(t, r)
				recovered(t, m, true, "a split subscribe recovers")
				for last < *m.Offset+1 && last < n { // the replay, then one live push at least
					p := rawRead(t, r)
					require.NotNil(t, p.Offset)
					require.Equal(t, last+1, *p.Offset, "each push once, in order")
					last = *p.Offset
				}
				r.NC.Close()
			}
			wg.Wait()
			f, err := first.Next(5 * time.Second)
			require.NoError(t, err)
			assert.Equal(t, ws.OpText, f.Op)
		})
	}
}
