package core

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// frameN returns a text frame of n bytes in all, 2 <= n <= 127, in a
// buffer of exactly that capacity (its charge is n + slotCost).
func frameN(n int, fill byte) []byte {
	return AppendFrame(make([]byte, 0, n), OpcodeText, bytes.Repeat([]byte{fill}, n-2))
}

func joined(bufs [][]byte) []byte { return bytes.Join(bufs, nil) }

func TestOutboxPeekAdvance(t *testing.T) {
	var o Outbox
	cfg := &outConfig{coalesce: true}
	assert.Nil(t, o.Peek(nil, 8), "an empty outbox peeks nothing")
	f1, f2, f3 := frameN(10, 'a'), frameN(20, 'b'), frameN(30, 'c')

	for i, f := range [][]byte{f1, f2, f3} {
		pending, err := o.push(f, cfg)
		require.NoError(t, err, "push %d", i)
		assert.Equal(t, 10*(i+1)*(i+2)/2, pending, "push %d: pending bytes", i)
	}

	cfg.coalesce = false
	one := o.Peek(nil, 8)
	require.Len(t, one, 1, "without coalescing, the head frame only")
	assert.Same(t, &f1[0], &one[0][0], "Peek returns the shared frame, not a copy")
	cfg.coalesce = true
	assert.Equal(t, [][]byte{f1, f2}, o.Peek(nil, 2), "coalescing, at most max slices")
	assert.Equal(t, [][]byte{f1, f2, f3}, o.Peek(nil, 8), "coalescing, every frame")
	pre := [][]byte{[]byte("x")}
	assert.Equal(t, [][]byte{[]byte("x"), f1, f2}, o.Peek(pre, 3), "Peek appends to dst; max counts dst")

	empty, closeNow := o.Advance(4)
	assert.False(t, empty, "a partial write leaves bytes pending")
	assert.False(t, closeNow, "no close frame")
	assert.Equal(t, 56, o.Pending(), "pending after 4 bytes")
	cfg.coalesce = false
	assert.Equal(t, [][]byte{f1[4:]}, o.Peek(nil, 8), "the head is the rest of the frame")
	cfg.coalesce = true
	assert.Equal(t, joined([][]byte{f1[4:], f2, f3}), joined(o.Peek(nil, 8)), "the rest of the stream")

	o.Advance(6 + 5) // the rest of f1 and 5 bytes of f2
	assert.Equal(t, 45, o.Pending(), "pending after crossing a frame boundary")
	assert.Equal(t, joined([][]byte{f2[5:], f3}), joined(o.Peek(nil, 8)), "the rest of the stream")

	o.Advance(15) // exactly the rest of f2
	assert.Equal(t, [][]byte{f3}, o.Peek(nil, 8), "a whole frame at the head")

	empty, closeNow = o.Advance(30)
	assert.True(t, empty, "everything written")
	assert.False(t, closeNow, "no close frame")
	assert.Zero(t, o.Pending(), "nothing pending")
	assert.Nil(t, o.q, "an idle outbox holds no slice")
	assert.Zero(t, o.stalledSince(), "an idle outbox is not stalled")

	pending, err := o.push(f1, cfg)
	require.NoError(t, err, "push after the drain")
	assert.Equal(t, len(f1), pending, "the queue was empty again")
}

func TestOutboxSlowConsumer(t *testing.T) {
	const limit = 300
	closeFrame := CloseFrame(ClosePolicy, "slow consumer")
	cases := []struct {
		name    string
		written int    // bytes the socket took before the breach
		keep    []byte // what remains of the head frame
	}{
		{"nothing written", 0, nil},
		{"head partly written", 10, frameN(30, 'a')[10:]},
		{"head frame written whole", 30, nil},
		{"second frame partly written", 45, frameN(30, 'b')[15:]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o Outbox
			cfg, unlimited := &outConfig{limit: limit, coalesce: true}, &outConfig{coalesce: true}
			for i, fill := range []byte("abc") {
				_, err := o.push(frameN(30, fill), cfg)
				require.NoError(t, err, "frame %d fits", i)
			}
			o.Advance(tc.written)
			// fill up to the limit exactly, then one byte more
			if room := limit - o.held() - slotCost; room >= 2 {
				_, err := o.push(frameN(room, 'f'), cfg)
				require.NoError(t, err, "a frame that reaches the limit exactly is accepted")
				assert.Equal(t, limit, o.held(), "queue at the limit")
			}
			pending, err := o.push(frameN(2, 'x'), cfg)
			assert.ErrorIs(t, err, ErrSlowConsumer, "a frame past the limit")
			want := append(append([]byte(nil), tc.keep...), closeFrame...)
			assert.Equal(t, want, joined(o.Peek(nil, 64)),
				"pending frames dropped but a partly written head; close 1008 queued last")
			assert.Equal(t, len(want), pending, "pending returned")
			assert.Equal(t, len(want), o.Pending(), "Pending")
			assert.True(t, o.Closing(), "the outbox is closing")

			_, err = o.push(frameN(2, 'y'), cfg)
			assert.ErrorIs(t, err, ErrClosing, "nothing accepted afterwards")
			_, err = o.push(frameN(2, 'y'), unlimited)
			assert.ErrorIs(t, err, ErrClosing, "not even without a limit")
			assert.False(t, o.closeWith(CloseFrame(CloseGoingAway, ""), cfg), "no second close frame")
			assert.Equal(t, len(want), o.Pending(), "nothing was added")

			out := o.Peek(nil, 64)
			fs := parseFrames(t, out[len(out)-1])
			require.Len(t, fs, 1, "the last slice is one frame")
			code, reason := fs[0].closeCode()
			assert.Equal(t, ClosePolicy, code, "close code 1008")
			assert.Equal(t, "slow consumer", reason, "close reason")

			empty, closeNow := o.Advance(len(want) - 1)
			assert.False(t, empty || closeNow, "the close frame is not out yet")
			empty, closeNow = o.Advance(1)
			assert.True(t, empty, "everything written")
			assert.True(t, closeNow, "the close frame is out: close the socket")
			require.NotNil(t, o.q, "a closed outbox says when its close frame went out")
			assert.Empty(t, o.q.pending(), "a closed outbox holds no frame (its emptied list goes back to the pool with it)")
			assert.NotZero(t, o.sentSince(), "the close frame is written")
		})
	}
}

// TestOutboxNeverPassesLimit pushes random frames with random partial
// writes: the bytes pending never pass the limit while the outbox accepts
// frames, and every frame accepted comes out in order.
func TestOutboxNeverPassesLimit(t *testing.T) {
	const limit = 1000
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var o Outbox
		cfg := &outConfig{limit: limit, coalesce: true}
		var accepted, written []byte
		for i := 0; ; i++ {
			f := frameN(2+rng.IntN(126), byte('a'+i%26))
			_, err := o.push(f, cfg)
			if err != nil {
				require.ErrorIs(t, err, ErrSlowConsumer, "seed %d: the only refusal is the slow consumer", seed)
				break
			}
			accepted = append(accepted, f...)
			require.LessOrEqual(t, o.held(), limit, "seed %d: memory held within the limit", seed)
			require.Less(t, o.Pending(), o.held(), "seed %d: the bookkeeping is counted", seed)
			if rng.IntN(3) == 0 {
				b := joined(o.Peek(nil, 64))
				n := rng.IntN(len(b) + 1)
				written = append(written, b[:n]...)
				o.Advance(n)
			}
		}
		rest := joined(o.Peek(nil, 64))
		written = append(written, rest...)
		closeFrame := CloseFrame(ClosePolicy, "slow consumer")
		require.True(t, bytes.HasSuffix(written, closeFrame), "seed %d: the stream ends with close 1008", seed)
		stream := written[:len(written)-len(closeFrame)]
		assert.True(t, bytes.HasPrefix(accepted, stream), "seed %d: what went out is a prefix of what was accepted", seed)
		assert.Len(t, parseFrames(t, written), len(parseFrames(t, stream))+1, "seed %d: whole frames only", seed)
	}
}

func TestOutboxCloseWith(t *testing.T) {
	var o Outbox
	cfg := &outConfig{coalesce: true}
	_, err := o.push(frameN(10, 'a'), cfg)
	require.NoError(t, err, "push")
	goingAway := CloseFrame(CloseGoingAway, "going away")
	assert.True(t, o.closeWith(goingAway, cfg), "the first close frame is queued")
	assert.False(t, o.closeWith(goingAway, cfg), "only one close frame")
	assert.True(t, o.Closing(), "closing")
	assert.Equal(t, [][]byte{frameN(10, 'a'), goingAway}, o.Peek(nil, 8), "pending frames go out before the close frame")
	assert.NotZero(t, o.stalledSince(), "a closing outbox counts for the write timeout")
	_, closeNow := o.Advance(10 + len(goingAway))
	assert.True(t, closeNow, "close the socket once the close frame is out")
}

func TestOutboxMarkClosed(t *testing.T) {
	var o Outbox
	cfg := &outConfig{coalesce: true}
	_, err := o.push(frameN(10, 'a'), cfg)
	require.NoError(t, err, "push")
	o.markClosed()
	assert.Zero(t, o.Pending(), "nothing pending")
	assert.Nil(t, o.Peek(nil, 8), "nothing to write")
	assert.Same(t, gone, o.q, "no queue held but the shared closed one")
	assert.True(t, o.Closing(), "closed")
	empty, closeNow := o.Advance(10) // a writer that took the frame before the close
	assert.True(t, empty, "nothing pending after the close")
	assert.False(t, closeNow, "the socket is gone already")
	_, err = o.push(frameN(10, 'b'), cfg)
	assert.ErrorIs(t, err, ErrClosing, "a closed outbox accepts nothing")
	assert.Zero(t, o.stalledSince(), "a closed outbox is not stalled")
}

func TestOutboxStalledSince(t *testing.T) {
	var o Outbox
	cfg := &outConfig{coalesce: true}
	assert.Zero(t, o.stalledSince(), "empty: not stalled")
	_, err := o.push(frameN(10, 'a'), cfg)
	require.NoError(t, err, "push")
	s1 := o.stalledSince()
	assert.NotZero(t, s1, "pending: the clock runs")
	_, err = o.push(frameN(10, 'b'), cfg)
	require.NoError(t, err, "push")
	assert.Equal(t, s1, o.stalledSince(), "more frames do not reset the clock")
	for time.Now().UnixNano() <= s1 { // let the clock move on
	}
	o.Advance(1)
	assert.Greater(t, o.stalledSince(), s1, "progress resets the clock")
}

// A frame a blocking writer took with Peek but has not reported written
// yet must survive a slow-consumer breach, so the close frame follows it.
func TestOutboxSlowConsumerKeepsInFlight(t *testing.T) {
	var o Outbox
	cfg := &outConfig{limit: 200, coalesce: true}
	a, b := bytes.Repeat([]byte{'a'}, 40), bytes.Repeat([]byte{'b'}, 40)
	_, err := o.push(a, cfg)
	require.NoError(t, err)
	inflight := o.Peek(nil, 8) // the writer is now writing a
	require.Len(t, inflight, 1)
	_, err = o.push(b, cfg)
	require.NoError(t, err)
	_, err = o.push(b, cfg) // 3 x (40 + slotCost) > 200: breach
	require.ErrorIs(t, err, ErrSlowConsumer)
	_, closeNow := o.Advance(len(a)) // the write of a completes
	assert.False(t, closeNow, "the close frame has not been written yet")
	rest := o.Peek(nil, 8)
	require.Len(t, rest, 1, "only the close frame is left: b was dropped, a was kept")
	assert.Equal(t, closeSlowConsumer, rest[0])
	_, closeNow = o.Advance(len(rest[0]))
	assert.True(t, closeNow)
}

// A connection that is never drained reuses the room of the frames it has
// written: its list does not grow with the frames that went through it.
func TestOutboxReusesWrittenRoom(t *testing.T) {
	var o Outbox
	cfg := &outConfig{coalesce: true}
	frame := []byte("0123456789")
	_, err := o.push(frame, cfg)
	require.NoError(t, err)
	for range 10000 {
		_, err := o.push(frame, cfg)
		require.NoError(t, err)
		empty, _ := o.Advance(len(frame))
		require.False(t, empty, "one frame stays pending")
	}
	require.NotNil(t, o.q)
	assert.Len(t, o.q.pending(), 1)
	assert.LessOrEqual(t, cap(o.q.s), 16, "the list stays at its pooled size")
	assert.Equal(t, len(frame), o.Pending())
	got := o.Peek(nil, 8)
	assert.Equal(t, [][]byte{frame}, got)
	empty, _ := o.Advance(len(frame))
	assert.True(t, empty)
	assert.Nil(t, o.q, "and goes back to the pool once empty")
}

// TestOutboxCountsBookkeeping (issue 11 item 3): tiny frames cannot hold
// many times the limit in list slots. A stream of 2-byte frames is refused
// once their bytes and their slots reach the limit, and the refusal gives
// the list's room back at once, not when the socket finally closes.
func TestOutboxCountsBookkeeping(t *testing.T) {
	const limit = 1 << 20
	var o Outbox
	cfg := &outConfig{limit: limit}
	tiny := frameN(2, 0)
	n := 0
	for ; ; n++ {
		if _, err := o.push(tiny, cfg); err != nil {
			require.ErrorIs(t, err, ErrSlowConsumer)
			break
		}
	}
	assert.Equal(t, limit/charge(tiny), n, "frames accepted: the limit over each frame's bytes and slot")
	assert.LessOrEqual(t, n*(24+len(tiny)), limit, "what the frames really hold stays within the limit")
	require.NotNil(t, o.q)
	assert.LessOrEqual(t, cap(o.q.s), 16, "the refused backlog's list is released at once")
	assert.Equal(t, [][]byte{closeSlowConsumer}, o.Peek(nil, 8), "only the close frame is left")
}

// TestOutboxMergesReplies: replies queued one after another leave as one
// buffer, whatever the write policy (a Peek without coalescing), in order;
// a push between them keeps its place; and a reply never changes a buffer
// the writer has taken.
func TestOutboxMergesReplies(t *testing.T) {
	var o Outbox
	cfg := &outConfig{}
	var want []byte
	for i := range 1000 {
		r := frameN(2+i%100, byte('a'+i%26))
		require.NoError(t, o.reply(r, false, cfg))
		want = append(want, r...)
	}
	var got []byte
	writes := 0
	for {
		b := o.Peek(nil, 64)
		if len(b) == 0 {
			break
		}
		got = append(got, b[0]...)
		o.Advance(len(b[0]))
		writes++
	}
	assert.Equal(t, want, got, "the replies in order, byte for byte")
	assert.LessOrEqual(t, writes, len(want)/mergeMax+2, "%d bytes of replies in %d writes", len(want), writes)

	o, cfg = Outbox{}, &outConfig{coalesce: true} // a policy that coalesces: the writer takes several frames
	push := frameN(10, 'P')
	r1, r2, r3 := frameN(5, '1'), frameN(5, '2'), frameN(5, '3')
	require.NoError(t, o.reply(r1, false, cfg))
	_, err := o.push(push, cfg)
	require.NoError(t, err)
	require.NoError(t, o.reply(r2, false, cfg))
	taken := o.Peek(nil, 8) // the writer takes r1, the push and r2
	require.Len(t, taken, 3)
	require.NoError(t, o.reply(r3, false, cfg))
	assert.Equal(t, r2, taken[2], "a reply handed to the writer is not changed")
	o.Advance(len(joined(taken)))
	assert.Equal(t, [][]byte{r3}, o.Peek(nil, 8), "the later reply is a frame of its own")
	o.Advance(len(r3))
	assert.Zero(t, o.held(), "nothing held once everything is written")
}

// TestOutboxCoalescesPongs: a pong waiting at the end of the queue is
// replaced by the pong for a later ping (RFC 6455 5.5.3), but never jumps
// ahead of a reply queued after it, and never changes what the writer has
// taken.
func TestOutboxCoalescesPongs(t *testing.T) {
	pong := func(p string) []byte { return AppendFrame(nil, OpcodePong, []byte(p)) }
	var o Outbox
	cfg := &outConfig{coalesce: true}
	for i := range 5000 {
		require.NoError(t, o.reply(pong(fmt.Sprint(i)), true, cfg))
	}
	assert.Equal(t, [][]byte{pong("4999")}, o.Peek(nil, 8), "one pong, for the latest ping")
	o.Advance(len(pong("4999")))

	text := frameN(6, 't')
	require.NoError(t, o.reply(pong("a"), true, cfg))
	require.NoError(t, o.reply(text, false, cfg))
	require.NoError(t, o.reply(pong("b"), true, cfg))
	require.NoError(t, o.reply(pong("c"), true, cfg))
	assert.Equal(t, joined([][]byte{pong("a"), text, pong("c")}), joined(o.Peek(nil, 8)),
		"a pong before a reply stays; the pongs after it become one")
	require.NoError(t, o.reply(pong("d"), true, cfg))
	assert.Equal(t, joined([][]byte{pong("a"), text, pong("c"), pong("d")}), joined(o.Peek(nil, 8)),
		"a pong the writer took is not replaced")
}

// TestOutboxCloseAllocatesNothing: writing the close frame allocates
// nothing; the outbox lingers in the queue that held the close frame,
// which keeps its emptied list and the time the close frame went out.
func TestOutboxCloseAllocatesNothing(t *testing.T) {
	cfg := &outConfig{coalesce: true}
	goingAway := CloseFrame(CloseGoingAway, "going away")
	boxes := make([]Outbox, 101) // AllocsPerRun calls once more than it counts
	held := make([]*queue, len(boxes))
	for i := range boxes {
		require.True(t, boxes[i].closeWith(goingAway, cfg), "box %d: close frame queued", i)
		require.Equal(t, [][]byte{goingAway}, boxes[i].Peek(nil, 8), "box %d: the writer takes it", i)
		held[i] = boxes[i].q
	}
	i, closed := 0, 0
	allocs := testing.AllocsPerRun(len(boxes)-1, func() {
		if _, closeNow := boxes[i].Advance(len(goingAway)); closeNow {
			closed++
		}
		i++
	})
	require.Equal(t, len(boxes), closed, "every close frame is out")
	assert.Zero(t, allocs, "writing the close frame allocates nothing")
	for i := range boxes {
		o := &boxes[i]
		assert.Same(t, held[i], o.q, "box %d: lingers in the queue that held the close frame", i)
		assert.Positive(t, cap(o.q.s), "box %d: the queue keeps its list for the pool", i)
		assert.Empty(t, o.q.pending(), "box %d: nothing pending", i)
		assert.Positive(t, o.sentSince(), "box %d: the sweep sees when the close frame went out", i)
		assert.Zero(t, o.stalledSince(), "box %d: a lingering outbox is not stalled", i)
		o.markClosed()
		assert.Same(t, gone, o.q, "box %d: the socket gone, the queue is back in the pool", i)
	}
}

// TestOutboxCloseKeepsPoolLists: closing connections leave the pool only
// queues with a list, so the next busy connection does not regrow one from
// nothing: a lingering queue goes back with its list once the socket is
// gone, and one whose list grew past maxPooledFrames lets it go and does
// not go back.
func TestOutboxCloseKeepsPoolLists(t *testing.T) {
	cfg := &outConfig{coalesce: true}
	goingAway := CloseFrame(CloseGoingAway, "going away")
	frame := frameN(10, 'a')
	for round := range 40 {
		var o Outbox
		backlog := 0
		if round%2 == 1 { // a list past maxPooledFrames
			backlog = maxPooledFrames + 1
		}
		for range backlog {
			_, err := o.push(frame, cfg)
			require.NoError(t, err, "round %d: push", round)
		}
		require.True(t, o.closeWith(goingAway, cfg), "round %d: close frame queued", round)
		if backlog == 0 {
			assert.GreaterOrEqual(t, cap(o.q.s), 16, "round %d: the pool's queue comes with its list", round)
		}
		for len(o.Peek(nil, 1)) > 0 {
			o.Advance(o.Pending())
		}
		require.Positive(t, o.sentSince(), "round %d: lingering", round)
		assert.Equal(t, backlog == 0, cap(o.q.s) > 0, "round %d: a lingering queue keeps its list unless it grew past maxPooledFrames", round)
		o.markClosed()
	}
}
