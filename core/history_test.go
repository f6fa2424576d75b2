package core

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// histMsg is any server message with the history fields.
type histMsg struct {
	Code      int     `json:"code"`
	Topic     string  `json:"topic"`
	Status    *int    `json:"status"`
	Offset    *uint64 `json:"offset"`
	Epoch     *string `json:"epoch"`
	Recovered *bool   `json:"recovered"`
	Data      []byte  `json:"data"`
}

func decodeHist(t *testing.T, s string) histMsg {
	t.Helper()
	var m histMsg
	require.NoError(t, json.Unmarshal([]byte(s), &m), "JSON: %s", s)
	return m
}

// subscribeAt subscribes c to topic with since (empty: none) and returns
// the reply and the frames that followed it. Frames written before are
// skipped.
func (h *harness) subscribeAt(c *Conn, l *fakeLink, code int, topic, since string) (histMsg, []histMsg) {
	h.t.Helper()
	l.take(h.t)
	msg := fmt.Sprintf(`{"code":%d,"topic":%q`, code, topic)
	if since != "" {
		msg += `,"since":` + since
	}
	c.Handle(context.Background(), []byte(msg+"}"))
	fs := texts(l.take(h.t))
	require.NotEmpty(h.t, fs, "a reply to %s", msg)
	var rest []histMsg
	for _, f := range fs[1:] {
		rest = append(rest, decodeHist(h.t, f))
	}
	return decodeHist(h.t, fs[0]), rest
}

func sinceOf(off uint64, epoch string) string {
	return fmt.Sprintf(`{"offset":%d,"epoch":%q}`, off, epoch)
}

func push(h *harness, topic, data string) { h.hub.Deliver(Push{Topic: topic, Data: []byte(data)}) }

func TestHistoryOffShowsNothing(t *testing.T) {
	h := newHarness(t, Config{})
	c, l := h.open()
	r, rest := h.subscribeAt(c, l, 1, "news", sinceOf(0, "e"))
	assert.Equal(t, 0, *r.Status)
	require.NotNil(t, r.Recovered, "since was sent: recovered is there")
	assert.False(t, *r.Recovered, "history off: nothing recovered")
	assert.Nil(t, r.Offset, "history off: no offset")
	assert.Nil(t, r.Epoch, "history off: no epoch")
	assert.Empty(t, rest)
	push(h, "news", "x")
	assert.Equal(t, []string{`{"code":7,"topic":"news","data":"eA=="}`}, pushes(t, l), "no offset in pushes")
	assert.Zero(t, h.hub.Stats().HistoryChannels.Load())
}

func TestHistoryOffsetsAndRecovery(t *testing.T) {
	h := newHarness(t, Config{History: HistoryConfig{Size: 10}})
	c, l := h.open()
	r, _ := h.subscribeAt(c, l, 1, "news", "")
	require.NotNil(t, r.Offset, "a successful subscribe carries its offset")
	require.NotNil(t, r.Epoch, "and epoch")
	assert.Zero(t, *r.Offset, "no push yet")
	assert.GreaterOrEqual(t, len(*r.Epoch), 16, "64 random bits at least")
	assert.Nil(t, r.Recovered, "recovered only when since was sent")
	epoch := *r.Epoch
	for i := 1; i <= 3; i++ {
		push(h, "news", fmt.Sprint(i))
	}
	ps := pushes(t, l)
	require.Len(t, ps, 3)
	for i, p := range ps {
		m := decodeHist(t, p)
		require.NotNil(t, m.Offset, "a push on a channel carries its offset")
		assert.Equal(t, uint64(i+1), *m.Offset, "offsets 1, 2, 3")
	}
	assert.Equal(t, `{"code":7,"topic":"news","offset":1,"data":"MQ=="}`, ps[0])

	d, dl := h.open()
	r, rest := h.subscribeAt(d, dl, 1, "news", sinceOf(1, epoch))
	assert.True(t, *r.Recovered, "every push after offset 1 is kept")
	assert.Equal(t, uint64(3), *r.Offset, "the reply's offset is the last issued")
	assert.Equal(t, epoch, *r.Epoch, "same sequence")
	require.Len(t, rest, 2, "pushes 2 and 3 follow the reply")
	assert.Equal(t, []string{"2", "3"}, []string{string(rest[0].Data), string(rest[1].Data)})

	for name, since := range map[string]string{
		"other epoch":  sinceOf(1, epoch+"x"),
		"above offset": sinceOf(4, epoch),
	} {
		e, el := h.open()
		r, rest := h.subscribeAt(e, el, 1, "news", since)
		assert.False(t, *r.Recovered, name)
		assert.Empty(t, rest, "%s: nothing replayed", name)
	}
	r, rest = h.subscribeAt(c, l, 1, "news", sinceOf(3, epoch))
	assert.True(t, *r.Recovered, "since at the last offset recovers, already subscribed too")
	assert.Empty(t, rest, "with nothing to replay")
	r, rest = h.subscribeAt(c, l, 1, "news", sinceOf(0, epoch))
	assert.True(t, *r.Recovered, "an already subscribed connection is replayed too")
	assert.Len(t, rest, 3)
	assert.Equal(t, int64(1), h.hub.Stats().HistoryChannels.Load(), "one channel")
	assert.Equal(t, int64(3), h.hub.Stats().HistoryPushes.Load(), "three kept")
}

func TestHistoryKeepsTheLastN(t *testing.T) {
	h := newHarness(t, Config{History: HistoryConfig{Size: 3}})
	c, l := h.open()
	r, _ := h.subscribeAt(c, l, 1, "t", "")
	epoch := *r.Epoch
	for i := 1; i <= 7; i++ {
		push(h, "t", fmt.Sprint(i))
	}
	r, rest := h.subscribeAt(c, l, 1, "t", sinceOf(3, epoch))
	assert.False(t, *r.Recovered, "push 4 is no longer kept")
	assert.Empty(t, rest)
	r, rest = h.subscribeAt(c, l, 1, "t", sinceOf(4, epoch))
	require.True(t, *r.Recovered, "5, 6, 7 are kept")
	require.Len(t, rest, 3)
	for i, m := range rest {
		assert.Equal(t, uint64(5+i), *m.Offset, "replayed in order")
	}
	assert.Equal(t, int64(3), h.hub.Stats().HistoryPushes.Load())
}

// TestHistoryReplaysTheSameBytes: a replay queues the frames that were
// delivered live, not copies.
func TestHistoryReplaysTheSameBytes(t *testing.T) {
	h := newHarness(t, Config{History: HistoryConfig{Size: 4}, Policy: lazyPolicy{}})
	c, l := h.open()
	r, _ := h.subscribeAt(c, l, 1, "t", "")
	l.stuck.Store(true)
	push(h, "t", "one")
	live := c.Out.Peek(nil, 16)
	require.Len(t, live, 1)
	d, dl := h.open()
	dl.stuck.Store(true)
	d.Handle(context.Background(), []byte(`{"code":1,"topic":"t","since":`+sinceOf(0, *r.Epoch)+`}`))
	queued := d.Out.Peek(nil, 16)
	require.Len(t, queued, 2, "the reply and one replayed frame")
	assert.Same(t, &live[0][0], &queued[1][0], "the replayed frame is the shared frame itself")
}

func TestHistoryReplayOverQueueLimit(t *testing.T) {
	h := newHarness(t, Config{History: HistoryConfig{Size: 100}, Limits: Limits{MaxQueued: 2000}})
	c, l := h.open()
	r, _ := h.subscribeAt(c, l, 1, "t", "")
	for i := range 20 {
		push(h, "t", strings.Repeat("x", 100)+fmt.Sprint(i))
	}
	pushes(t, l)
	r, rest := h.subscribeAt(c, l, 1, "t", sinceOf(0, *r.Epoch))
	assert.False(t, *r.Recovered, "20 frames of 150 bytes pass the 2,000-byte limit")
	assert.Empty(t, rest, "nothing replayed")
	assert.False(t, c.Out.Closing(), "a refused replay is not a slow consumer")
	r, rest = h.subscribeAt(c, l, 1, "t", sinceOf(15, *r.Epoch))
	assert.True(t, *r.Recovered, "five frames fit")
	assert.Len(t, rest, 5)
}

func TestHistoryBadSince(t *testing.T) {
	h := newHarness(t, Config{Auth: usersAuth, History: HistoryConfig{Size: 4}})
	c, l := h.open()
	for _, since := range []string{`"x"`, `[]`, `1`, `{}`, `{"offset":1}`, `{"epoch":"e"}`,
		`{"offset":-1,"epoch":"e"}`, `{"offset":1.5,"epoch":"e"}`, `{"offset":1e3,"epoch":"e"}`,
		`{"offset":9007199254740992,"epoch":"e"}`, `{"offset":"1","epoch":"e"}`, `{"offset":1,"epoch":5}`,
		`{"offset":1,"epoch":null}`} {
		for _, code := range []int{1, 5} {
			r := replyOf(t, h.request(c, l, fmt.Sprintf(`{"code":%d,"topic":"t","since":%s}`, code, since)))
			assert.Equal(t, StatusBadRequest, r.Status, "code %d since %s", code, since)
			assert.Equal(t, Op(code), r.Code, "checked with JSON and code, before login: code %d since %s", code, since)
			assert.Contains(t, r.Message, "since", "the error names since")
		}
	}
	r := replyOf(t, h.request(c, l, `{"code":2,"topic":"t","since":"x"}`))
	assert.Equal(t, StatusOK, r.Status, "since is ignored on other codes")
	m := decodeHist(t, h.request(c, l, `{"code":1,"topic":"t","since":{"offset":9007199254740991,"epoch":""}}`))
	assert.Equal(t, 0, *m.Status, "2^53-1 and an empty epoch are valid")
	assert.False(t, *m.Recovered)
	assert.Equal(t, int64(1), h.hub.Stats().HistoryChannels.Load(), "only the valid subscribe made state")
}

func TestHistoryRefusedSubscribeMakesNoState(t *testing.T) {
	h := newHarness(t, Config{Auth: usersAuth, History: HistoryConfig{Size: 4}, Limits: Limits{MaxSubs: 1}})
	c, l := h.open()
	assert.Equal(t, StatusUnauthorized, replyOf(t, h.request(c, l, `{"code":5,"topic":"p"}`)).Status)
	assert.Equal(t, StatusBadRequest, replyOf(t, h.request(c, l, `{"code":1,"topic":"a b"}`)).Status)
	assert.Zero(t, h.hub.Stats().HistoryChannels.Load(), "401 and 400 make no state")
	h.request(c, l, `{"code":1,"topic":"one"}`)
	assert.Equal(t, StatusTooMany, replyOf(t, h.request(c, l, `{"code":1,"topic":"two"}`)).Status)
	assert.Equal(t, int64(1), h.hub.Stats().HistoryChannels.Load(), "429 makes no state")
	h.hub.Deliver(Push{Data: []byte("all")})
	assert.Equal(t, int64(1), h.hub.Stats().HistoryChannels.Load(), "a push to all has no history")
}

func TestHistoryPrivateChannels(t *testing.T) {
	h := newHarness(t, Config{Auth: usersAuth, History: HistoryConfig{Size: 4}})
	c, l := h.open()
	h.request(c, l, `{"code":3,"data":"user:alice"}`)
	pub, _ := h.subscribeAt(c, l, 1, "inbox", "")
	priv, _ := h.subscribeAt(c, l, 5, "inbox", "")
	assert.NotEqual(t, *pub.Epoch, *priv.Epoch, "public and private channels of one name are two sequences")
	h.hub.Deliver(Push{UID: "alice", Topic: "inbox", Data: []byte("a1")})
	h.hub.Deliver(Push{UID: "bob", Topic: "inbox", Data: []byte("b1")})
	h.hub.Deliver(Push{UID: "alice", Topic: "inbox", Data: []byte("a2")})
	ps := pushes(t, l)
	require.Len(t, ps, 2)
	assert.Equal(t, `{"code":8,"topic":"inbox","offset":2,"data":"YTI="}`, ps[1], "bob's push is not alice's offset")
	r, rest := h.subscribeAt(c, l, 5, "inbox", sinceOf(0, *priv.Epoch))
	assert.True(t, *r.Recovered)
	require.Len(t, rest, 2)
	assert.Equal(t, "a1", string(rest[0].Data))
	assert.Equal(t, int64(3), h.hub.Stats().HistoryChannels.Load(), "public inbox, alice's and bob's")
}

func TestHistoryRawFormat(t *testing.T) {
	h := newHarness(t, Config{Format: FormatRaw, History: HistoryConfig{Size: 4}})
	c, l := h.open()
	r, _ := h.subscribeAt(c, l, 1, "t", "")
	push(h, "t", "hello")
	assert.Equal(t, []string{"hello"}, pushes(t, l), "raw frames carry no offset")
	d, dl := h.open()
	d.Handle(context.Background(), []byte(`{"code":1,"topic":"t","since":`+sinceOf(0, *r.Epoch)+`}`))
	fs := texts(dl.take(t))
	require.Len(t, fs, 2, "the reply and the replayed raw frame")
	m := decodeHist(t, fs[0])
	require.True(t, *m.Recovered)
	assert.Equal(t, uint64(1), *m.Offset, "offsets count raw pushes too")
	assert.Equal(t, "hello", fs[1])
}

func TestHistoryExpiry(t *testing.T) {
	const ttl = time.Minute
	h := newHarness(t, Config{History: HistoryConfig{Size: 4, TTL: ttl}})
	c, l := h.open()
	r, _ := h.subscribeAt(c, l, 1, "t", "")
	epoch := *r.Epoch
	push(h, "t", "1")
	push(h, "t", "2")
	later := time.Now().Add(ttl + time.Second).UnixNano()
	h.hub.hist.sweep(later, h.reg)
	assert.Zero(t, h.hub.Stats().HistoryPushes.Load(), "kept pushes are dropped after the TTL")
	r, rest := h.subscribeAt(c, l, 1, "t", sinceOf(0, epoch))
	assert.False(t, *r.Recovered, "pushes no longer kept")
	assert.Empty(t, rest)
	assert.Equal(t, epoch, *r.Epoch, "a subscribed channel keeps its sequence")
	assert.Equal(t, uint64(2), *r.Offset)
	r, _ = h.subscribeAt(c, l, 1, "t", sinceOf(2, epoch))
	assert.True(t, *r.Recovered, "nothing missed, nothing to replay")

	h.request(c, l, `{"code":2,"topic":"t"}`)
	h.hub.hist.sweep(later+2*int64(ttl), h.reg)
	assert.Zero(t, h.hub.Stats().HistoryChannels.Load(), "no subscriber: the sequence ends")
	r, _ = h.subscribeAt(c, l, 1, "t", sinceOf(2, epoch))
	assert.False(t, *r.Recovered, "an ended sequence does not recover")
	assert.NotEqual(t, epoch, *r.Epoch, "a new sequence, a new epoch")
	assert.Zero(t, *r.Offset, "numbered from the start")
}

func TestHistoryExpiryByTheSweep(t *testing.T) {
	h := newHarness(t, Config{History: HistoryConfig{Size: 4, TTL: 50 * time.Millisecond}})
	push(h, "nobody", "x")
	require.Equal(t, int64(1), h.hub.Stats().HistoryChannels.Load(), "a push makes state without a subscriber")
	assert.True(t, eventually(func() bool { return h.hub.Stats().HistoryChannels.Load() == 0 }, 5*time.Second),
		"the hub's sweep ends it")
	assert.Zero(t, h.hub.Stats().HistoryBytes.Load())
}

func TestHistoryNewEpochs(t *testing.T) {
	h := newHarness(t, Config{History: HistoryConfig{Size: 4, Node: "node7"}})
	c, l := h.open()
	r, _ := h.subscribeAt(c, l, 1, "t", "")
	epoch := *r.Epoch
	assert.True(t, strings.HasPrefix(epoch, "node7-"), "the node names its epochs: %s", epoch)
	push(h, "t", "1")
	h.hub.NewEpochs()
	r, rest := h.subscribeAt(c, l, 1, "t", sinceOf(0, epoch))
	assert.False(t, *r.Recovered, "the old epoch does not recover")
	assert.Empty(t, rest)
	assert.NotEqual(t, epoch, *r.Epoch)
	assert.Equal(t, uint64(1), *r.Offset, "offsets go on")
	pushes(t, l)
	push(h, "t", "2")
	assert.Equal(t, []string{`{"code":7,"topic":"t","offset":2,"data":"Mg=="}`}, pushes(t, l))
	(&Hub{}).NewEpochs() // history off: nothing to do
}

// TestHistoryExactlyOnce: while pushes run, connections resubscribe with
// since over and over; each sees every push exactly once, in order.
func TestHistoryExactlyOnce(t *testing.T) {
	h := newHarness(t, Config{History: HistoryConfig{Size: 1 << 16}})
	const n = 3000
	const conns = 4
	c0, l0 := h.open()
	r, _ := h.subscribeAt(c0, l0, 1, "t", "")
	epoch := *r.Epoch
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			push(h, "t", fmt.Sprint(i))
		}
	}()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resubscriber(t, h, epoch, n)
		}()
	}
	wg.Wait()
}

// resubscriber subscribes with since from offset 0, reads what arrived,
// unsubscribes, and starts again from the last offset it saw, until it
// has seen push n; every push must come once and in order.
func resubscriber(t *testing.T, h *harness, epoch string, n uint64) {
	c, l := h.open()
	var last uint64
	for last < n {
		c.Handle(context.Background(), []byte(`{"code":1,"topic":"t","since":`+sinceOf(last, epoch)+`}`))
		time.Sleep(100 * time.Microsecond)
		c.Handle(context.Background(), []byte(`{"code":2,"topic":"t"}`))
		for _, f := range texts(l.take(t)) {
			var m histMsg
			if !assert.NoError(t, json.Unmarshal([]byte(f), &m)) {
				return
			}
			if m.Code == 1 && !assert.True(t, *m.Recovered, "everything is kept") {
				return
			}
			if m.Code != 7 {
				continue
			}
			if !assert.Equal(t, last+1, *m.Offset, "each push once, in order") {
				return
			}
			assert.Equal(t, fmt.Sprint(last+1), string(m.Data))
			last = *m.Offset
		}
	}
}

// TestHistoryConcurrentUpkeep: pushes, subscribes, unsubscribes, new
// epochs and expiry walks all at once, under the race detector: nothing
// deadlocks, and between a subscribe reply (offset O) and the unsubscribe
// reply a connection gets O+1, O+2, ... without a gap (the sequence neither
// ends nor restarts while it is subscribed).
func TestHistoryConcurrentUpkeep(t *testing.T) {
	h := newHarness(t, Config{History: HistoryConfig{Size: 8, TTL: time.Millisecond}, Limits: Limits{MaxReqRate: 1 << 30}})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					f()
				}
			}
		}()
	}
	run(func() { push(h, "t", "x") })
	run(h.hub.NewEpochs)
	run(func() { h.hub.hist.sweep(time.Now().UnixNano()+int64(time.Second), h.reg) })
	conns := make([]*fakeLink, 4)
	for i := range conns {
		c, l := h.open()
		conns[i] = l
		run(func() {
			c.Handle(context.Background(), []byte(`{"code":1,"topic":"t","since":{"offset":0,"epoch":"x"}}`))
			time.Sleep(50 * time.Microsecond)
			c.Handle(context.Background(), []byte(`{"code":2,"topic":"t"}`))
		})
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	total := 0
	for i, l := range conns {
		total += checkRuns(t, i, texts(l.take(t)))
	}
	assert.Positive(t, total, "pushes reached subscribers")
}

// checkRuns checks that the pushes after each subscribe reply follow its
// offset without a gap, and returns how many there were.
func checkRuns(t *testing.T, conn int, frames []string) int {
	var next uint64
	n := 0
	for _, f := range frames {
		m := decodeHist(t, f)
		switch {
		case m.Code == 1:
			require.NotNil(t, m.Offset)
			next = *m.Offset + 1
		case m.Code == 7:
			require.NotNil(t, m.Offset)
			if !assert.Equal(t, next, *m.Offset, "connection %d: no gap while subscribed", conn) {
				return n
			}
			next++
			n++
		}
	}
	return n
}
