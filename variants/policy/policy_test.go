package policy

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/variants/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// counters are shared by every memLink of a fan-out, so that a benchmark
// can wait for the total cheaply.
type counters struct {
	writes atomic.Int64 // Peek calls that returned data
	bytes  atomic.Int64
}

// memLink is an in-memory transport: Kick drains the outbox with Peek and
// Advance as a socket writer would (one writer at a time, core.Kicker like
// the epoll transport: a Kick that finds another writer leaves the work to
// it), and
// counts each Peek that returned data as one write.
type memLink struct {
	c      *core.Conn
	all    *counters
	record bool // keep the bytes written in log

	kicks  atomic.Int64
	writes atomic.Int64
	wmu    core.Kicker // one writer at a time; guards log and arr
	log    []byte
	arr    [64][]byte
}

// Kick implements core.Link.
func (l *memLink) Kick() {
	l.kicks.Add(1)
	l.wmu.Kick(l.drain)
}

// drain writes until the outbox is empty. l.wmu is held.
func (l *memLink) drain() {
	for {
		bufs := l.c.Out.Peek(l.arr[:0], len(l.arr))
		if len(bufs) == 0 {
			return
		}
		n := 0
		for _, b := range bufs {
			n += len(b)
			if l.record {
				l.log = append(l.log, b...)
			}
		}
		clear(bufs)
		l.writes.Add(1)
		l.all.writes.Add(1)
		l.all.bytes.Add(int64(n))
		if _, closeNow := l.c.Out.Advance(n); closeNow {
			return
		}
	}
}

// Abort implements core.Link.
func (l *memLink) Abort() {}

func (l *memLink) written() []byte {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return bytes.Clone(l.log)
}

// fanout is a hub with n in-memory connections on a Sharded registry.
type fanout struct {
	hub   *core.Hub
	reg   core.Registry
	links []*memLink
	all   counters
}

func newFanout(tb testing.TB, p core.Policy, n int, record bool) *fanout {
	tb.Helper()
	f := &fanout{reg: registry.NewSharded(0)}
	f.hub = core.NewHub(core.Config{Registry: f.reg, Policy: p})
	tb.Cleanup(f.hub.Close)
	f.links = make([]*memLink, n)
	for i := range f.links {
		l := &memLink{all: &f.all, record: record}
		l.c = f.hub.Open(l)
		f.links[i] = l
	}
	return f
}

func newBatched(tb testing.TB, cfg BatchConfig) *Batched {
	tb.Helper()
	b := NewBatched(cfg)
	tb.Cleanup(func() { require.NoError(tb, b.Close()) })
	return b
}

// eventually polls cond every millisecond until within; it reports whether
// cond held.
func eventually(cond func() bool, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

func push(data string) core.Push { return core.Push{Data: []byte(data)} }

func frameOf(p core.Push) []byte { return core.FormatJSON.Encode(p) }

func TestImmediateWritesEachFrameAtOnce(t *testing.T) {
	f := newFanout(t, Immediate{}, 3, true)
	var want []byte
	for i := range 5 {
		p := push(strings.Repeat("x", i+1))
		require.Equal(t, 3, f.hub.Deliver(p), "a broadcast reaches every connection")
		want = append(want, frameOf(p)...)
	}
	for i, l := range f.links {
		assert.Equal(t, int64(5), l.kicks.Load(), "conn %d: one kick per frame, in the pusher's goroutine", i)
		assert.Equal(t, int64(5), l.writes.Load(), "conn %d: one write per frame", i)
		assert.Equal(t, want, l.written(), "conn %d: the frames, in order", i)
		assert.Zero(t, l.c.Out.Pending(), "conn %d: nothing left queued", i)
	}
	assert.False(t, Immediate{}.Coalesce(), "immediate writes one frame at a time")
}

func TestBatchedFlushesWithinBoundedIntervals(t *testing.T) {
	const interval = 100 * time.Millisecond
	b := newBatched(t, BatchConfig{Interval: interval, Bytes: 1 << 20})
	f := newFanout(t, b, 2, true)
	p := push("hello")
	start := time.Now()
	f.hub.Deliver(p)
	for i, l := range f.links {
		assert.Zero(t, l.kicks.Load(), "conn %d: a small frame waits for the flusher", i)
	}
	ok := eventually(func() bool { return f.all.bytes.Load() == int64(2*len(frameOf(p))) }, 20*interval)
	took := time.Since(start)
	require.True(t, ok, "both connections written within 20 intervals")
	assert.False(t, start.Add(took).Before(nextBeat(b.flushers[0].origin, start, interval)),
		"the flusher waits for the interval's next beat for more frames")
	for i, l := range f.links {
		assert.Equal(t, frameOf(p), l.written(), "conn %d got the frame", i)
		assert.Equal(t, int64(1), l.kicks.Load(), "conn %d kicked once by the flusher", i)
		assert.False(t, l.c.Scheduled.Load(), "conn %d is no longer scheduled", i)
	}
	assert.True(t, b.Coalesce(), "batched coalesces frames")
}

func TestBatchedCoalescesFramesOfOneInterval(t *testing.T) {
	const n = 20
	b := newBatched(t, BatchConfig{Interval: 200 * time.Millisecond, Bytes: 1 << 20})
	f := newFanout(t, b, 1, true)
	l := f.links[0]
	var want []byte
	for i := range n {
		p := push(strings.Repeat("y", i+1))
		f.hub.Deliver(p)
		want = append(want, frameOf(p)...)
	}
	require.True(t, eventually(func() bool { return f.all.bytes.Load() == int64(len(want)) }, 5*time.Second),
		"every frame written within 5 s")
	assert.Less(t, l.writes.Load(), int64(n), "%d frames of one interval go out in fewer writes", n)
	assert.Equal(t, want, l.written(), "the frames, in order, unchanged")
}

func TestBatchedBytesThresholdKicksAtOnce(t *testing.T) {
	small, big := push(strings.Repeat("s", 60)), push(strings.Repeat("b", 300))
	ls, lb := len(frameOf(small)), len(frameOf(big))
	require.Less(t, 2*ls, 256, "two small frames stay under the threshold")
	require.GreaterOrEqual(t, 3*ls, 256, "three small frames reach it")
	require.GreaterOrEqual(t, lb, 256, "a big frame reaches it alone")

	b := newBatched(t, BatchConfig{Interval: time.Hour, Bytes: 256})
	f := newFanout(t, b, 1, true)
	l := f.links[0]

	f.hub.Deliver(big)
	assert.Equal(t, int64(1), l.kicks.Load(), "a frame of Bytes or more is kicked in Deliver")
	assert.Equal(t, int64(lb), f.all.bytes.Load(), "and written before Deliver returns")

	f.hub.Deliver(small)
	f.hub.Deliver(small)
	assert.Equal(t, int64(1), l.kicks.Load(), "under the threshold nothing is kicked")
	f.hub.Deliver(small)
	assert.Equal(t, int64(2), l.kicks.Load(), "the frame that takes pending bytes to the threshold kicks")
	assert.Equal(t, int64(lb+3*ls), f.all.bytes.Load(), "every frame written, without waiting an hour")
	assert.Equal(t, int64(2), l.writes.Load(), "the three small frames went out in one write")
}

func TestBatchedNeverKicksIdleConnections(t *testing.T) {
	const interval = 150 * time.Millisecond
	b := newBatched(t, BatchConfig{Interval: interval, Bytes: 256, Flushers: 1})
	f := newFanout(t, b, 4, false)
	drained, quiet, closed, marker := f.links[0], f.links[1], f.links[2], f.links[3]
	sub := func(topic string, l *memLink) core.Sub { // through the session: a push reaches subscribers only
		l.c.Handle(context.Background(), []byte(`{"code":1,"topic":"`+topic+`"}`))
		require.Zero(t, l.c.Out.Pending(), "precondition: the subscribe reply was written")
		l.kicks.Store(0)
		l.writes.Store(0)
		return core.Sub{Topic: topic}
	}
	sDrained, sClosed, sMarker := sub("drained", drained), sub("closed", closed), sub("marker", marker)
	to := func(s core.Sub, n int) core.Push {
		return core.Push{Topic: s.Topic, Data: bytes.Repeat([]byte("z"), n)}
	}

	// drained: scheduled by a small frame, then written at once by a frame
	// that reaches Bytes; closed: scheduled, then gone.
	f.hub.Deliver(to(sDrained, 10))
	f.hub.Deliver(to(sClosed, 10))
	require.Zero(t, drained.kicks.Load(), "precondition: the small frame waits for the flusher")
	f.hub.Deliver(to(sDrained, 300))
	require.Equal(t, int64(1), drained.kicks.Load(), "precondition: the big frame kicked at once")
	require.Zero(t, drained.c.Out.Pending(), "precondition: and the kick wrote everything")
	f.hub.Closed(closed.c)

	// Wait for the flusher's pass over both, then for one more pass: the
	// marker is queued once both are unscheduled, so once it is written the
	// pass that handled them is over.
	require.True(t, eventually(func() bool { return !drained.c.Scheduled.Load() && !closed.c.Scheduled.Load() }, 5*time.Second),
		"the flusher took both off its list")
	f.hub.Deliver(to(sMarker, 10))
	require.True(t, eventually(func() bool { return marker.writes.Load() == 1 }, 5*time.Second), "the marker was flushed")

	assert.Equal(t, int64(1), drained.kicks.Load(), "the flusher does not kick a connection whose output was already written")
	assert.Zero(t, closed.kicks.Load(), "the flusher does not kick a closed connection")
	assert.Zero(t, quiet.kicks.Load(), "the flusher never kicks a connection that got nothing")
	assert.Equal(t, int64(1), marker.kicks.Load(), "the marker was kicked once, by the flusher")
}

func TestBatchedCloseFlushesAndStops(t *testing.T) {
	before := goleak.IgnoreCurrent()
	b := NewBatched(BatchConfig{Interval: time.Hour, Flushers: 3})
	f := newFanout(t, b, 5, false)
	p := push("last words")
	f.hub.Deliver(p)
	assert.Zero(t, f.all.bytes.Load(), "nothing flushed before an hour")

	require.NoError(t, b.Close(), "Close")
	assert.Equal(t, int64(5*len(frameOf(p))), f.all.bytes.Load(), "Close flushes what is pending")
	require.NoError(t, b.Close(), "a second Close is harmless")
	f.hub.Close()
	goleak.VerifyNone(t, before)
}

func TestBatchedDefaults(t *testing.T) {
	b := newBatched(t, BatchConfig{})
	cfg := b.Config()
	assert.Equal(t, DefaultFlushInterval, cfg.Interval, "zero Interval means the default")
	assert.Equal(t, DefaultFlushBytes, cfg.Bytes, "zero Bytes means the default")
	assert.Positive(t, cfg.Flushers, "zero Flushers means GOMAXPROCS")
}

// TestNextBeat (issue 13): after a sleep the first flush falls on the
// grid origin + k*interval, strictly after now and at most one interval
// later, so a lone frame waits half an interval on average, never more than
// one.
func TestNextBeat(t *testing.T) {
	const iv = 10 * time.Millisecond
	origin := time.Unix(1000, 0)
	assert.Equal(t, origin.Add(iv), nextBeat(origin, origin, iv), "on a beat: the next one")
	assert.Equal(t, origin.Add(iv), nextBeat(origin, origin.Add(iv/4), iv), "a quarter in: three quarters to wait")
	assert.Equal(t, origin.Add(5*iv), nextBeat(origin, origin.Add(4*iv+iv-1), iv), "just before a beat: that beat")
	assert.Equal(t, origin.Add(6*iv), nextBeat(origin, origin.Add(5*iv), iv), "exactly on a later beat: the one after")
	assert.Equal(t, origin, nextBeat(origin, origin.Add(-iv/4), iv), "before a future origin: the origin itself")
	assert.Equal(t, origin.Add(-iv), nextBeat(origin, origin.Add(-2*iv), iv), "exactly on an earlier beat: the one after")
	for _, d := range []time.Duration{-7*iv - 3, -iv, -iv / 3, -1, 0, 1, iv / 3, iv - 1, 7*iv + 3} {
		next := nextBeat(origin, origin.Add(d), iv)
		assert.True(t, next.After(origin.Add(d)) && !next.After(origin.Add(d+iv)), "%v: within (now, now+interval]", d)
	}
}

// TestFirstDeadline (issues 12 and 13): after a long sleep the next beat;
// after a short one, no sooner than one interval after the last flush
// ended (a saturated flusher lets a whole interval's frames gather), never
// later than one interval after now.
func TestFirstDeadline(t *testing.T) {
	const iv = 10 * time.Millisecond
	origin := time.Unix(1000, 0)
	assert.Equal(t, origin.Add(6*iv), firstDeadline(origin, time.Time{}, origin.Add(5*iv+iv/4), iv), "never flushed: the next beat")
	assert.Equal(t, origin.Add(6*iv), firstDeadline(origin, origin.Add(2*iv), origin.Add(5*iv+iv/4), iv), "long asleep: the next beat")
	last := origin.Add(5*iv + iv/2) // a flush ended off the grid
	assert.Equal(t, last.Add(iv), firstDeadline(origin, last, last.Add(iv/10), iv), "a short sleep: one interval after the last flush ended, not the beat just ahead")
	for _, nap := range []time.Duration{0, iv / 3, iv, 3 * iv} {
		now := last.Add(nap)
		d := firstDeadline(origin, last, now, iv)
		assert.True(t, d.After(now) && !d.After(now.Add(iv)) && !d.Before(last.Add(iv)), "nap %v: within (now, now+interval], not before last+interval", nap)
	}
}

// TestNextFlush (issues 11 and 12): the flush deadline follows the
// interval's beat, not the end of the last flush: a flush that took part of
// the interval leaves the next deadline where it was. A flush that ended
// later than interval/lateGap before the beat (the flushers are saturated)
// is followed by a gap of interval/lateGap, not by another flush at once,
// so that frames gather: a frame's wait grows by at most that gap, not by
// a whole interval.
func TestNextFlush(t *testing.T) {
	const iv = 10 * time.Millisecond
	gap := iv / lateGap
	last := time.Unix(1000, 0)
	assert.Equal(t, last.Add(iv), nextFlush(last, last.Add(iv/4), iv), "a short flush: one interval after the last deadline")
	assert.Equal(t, last.Add(iv), nextFlush(last, last.Add(iv-gap), iv), "a flush that leaves exactly the gap: on the beat")
	assert.Equal(t, last.Add(iv-gap/2).Add(gap), nextFlush(last, last.Add(iv-gap/2), iv), "a flush that ends closer to the beat than the gap: the gap after it")
	assert.Equal(t, last.Add(iv).Add(gap), nextFlush(last, last.Add(iv), iv), "a flush of exactly one interval: the gap after it")
	assert.Equal(t, last.Add(3*iv).Add(gap), nextFlush(last, last.Add(3*iv), iv), "a flush of three intervals: the gap after it, not another interval")
}
