package wsframe

import (
	"testing"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The vectors run parked in TestFeedSplit, TestFeedByteByByte and
// TestFeedRandomSplits (feedModes); these tests pin what parking holds.

func TestParkedFragmentedAcrossReads(t *testing.T) {
	var p Parser
	var k Parked
	var f feeder
	require.NoError(t, p.FeedParked(&k, mf(ws.OpText, fin, "whole"), f.record))
	assert.True(t, k.Empty(), "nothing is parked after whole frames")
	require.NoError(t, p.FeedParked(&k, mf(ws.OpText, more, "abc"), f.record))
	assert.False(t, k.Empty(), "an open message is parked")
	assert.Equal(t, 3, k.Buffered(), "the first fragment is held")
	pf := mf(ws.OpPing, fin, "ping!")
	require.NoError(t, p.FeedParked(&k, pf[:len(pf)-2], f.record))
	assert.Equal(t, 3+3, k.Buffered(), "a cut ping is held after the message")
	require.NoError(t, p.FeedParked(&k, cat(pf[len(pf)-2:], mf(ws.OpContinuation, more, "de")), f.record))
	assert.Equal(t, 5, k.Buffered(), "the ping is delivered, the second fragment held")
	require.NoError(t, p.FeedParked(&k, mf(ws.OpContinuation, fin, "f"), f.record))
	assert.True(t, k.Empty(), "the state is released when the message completes")
	assert.Equal(t, []msg{text("whole"), ping("ping!"), text("abcdef")}, f.result(nil).msgs)
	assert.True(t, p.idle(), "the working Parser is left at a frame boundary")
}

// TestParkedReleaseMidFrame: Release gives a partial frame's Parser and
// buffer back to their pools (Held counts them out and in).
func TestParkedReleaseMidFrame(t *testing.T) {
	start := Held()
	var p Parser
	p.Reset(Config{MaxMessage: 1000})
	in := mf(ws.OpBinary, fin, pattern(1000))
	var k Parked
	require.NoError(t, p.FeedParked(&k, in[:len(in)-10], nil), "a half frame delivers nothing")
	require.False(t, k.Empty())
	assert.Equal(t, 990, k.Buffered())
	assert.Equal(t, Holding{Parked: start.Parked + 1, Buffers: start.Buffers + 1}, Held(), "a Parser and a buffer are out")
	k.Release()
	assert.True(t, k.Empty(), "Release empties the Parked")
	assert.Zero(t, k.Buffered())
	assert.Equal(t, start, Held(), "the Parser and the buffer went back")

	var f feeder
	require.NoError(t, p.FeedParked(&k, mf(ws.OpText, fin, "next"), f.record))
	assert.Equal(t, []msg{text("next")}, f.result(nil).msgs, "a released Parked starts at a frame boundary")
	assert.Equal(t, 1000, p.limit(), "the working Parser keeps its Config")
}

// TestParkedReleaseTwice: a second Release, of the Parked or of a stale
// copy of it (two closers of one connection), gives nothing back twice.
func TestParkedReleaseTwice(t *testing.T) {
	start := Held()
	var p Parser
	var k Parked
	half := mf(ws.OpText, fin, pattern(100))[:50]
	require.NoError(t, p.FeedParked(&k, half, nil))
	require.Equal(t, Holding{Parked: start.Parked + 1, Buffers: start.Buffers + 1}, Held())
	stale := k
	k.Release()
	k.Release()
	stale.Release()
	assert.Equal(t, start, Held(), "the state went back once")
	assert.True(t, stale.Empty(), "a stale copy holds nothing")
	assert.Zero(t, stale.Buffered())
}

// TestFeedParkedKeepsWorkingConfig: a state parked by a Parser with
// another Config resumes in p under p's Config, which p keeps.
func TestFeedParkedKeepsWorkingConfig(t *testing.T) {
	var client, server Parser
	client.Reset(Config{Client: true, MaxMessage: 10})
	server.Reset(Config{MaxMessage: 1000})
	var k, other Parked
	var f feeder
	in := uf(ws.OpText, fin, "12345678")
	require.NoError(t, client.FeedParked(&k, in[:5], f.record))
	require.False(t, k.Empty(), "half a frame is parked")
	require.NoError(t, server.FeedParked(&k, in[5:], f.record), "the server Parser finishes it")
	assert.True(t, k.Empty())
	require.NoError(t, server.FeedParked(&other, mf(ws.OpText, fin, pattern(500)), f.record),
		"the server Parser still takes masked frames over the client's limit")
	assert.Equal(t, []msg{text("12345678"), text(pattern(500))}, f.result(nil).msgs)
	assert.Equal(t, 1000, server.limit())
	assert.ErrorIs(t, client.FeedParked(&other, mf(ws.OpText, fin, "x"), nil), ErrMasked, "the client Parser keeps its own")
}

func TestParkedFailure(t *testing.T) {
	start := Held()
	var p Parser
	var bad, good Parked
	var f feeder
	require.NoError(t, p.FeedParked(&good, mf(ws.OpText, more, "ab"), f.record))
	err := p.FeedParked(&bad, cat(mf(ws.OpText, more, "xy"), uf(ws.OpContinuation, fin, "unmasked")), nil)
	require.ErrorIs(t, err, ErrUnmasked)
	assert.True(t, bad.Empty(), "a failed connection parks nothing")
	assert.ErrorIs(t, p.FeedParked(&bad, mf(ws.OpText, fin, "more"), nil), ErrFailed, "and refuses input")
	require.NoError(t, p.FeedParked(&good, mf(ws.OpContinuation, fin, "c"), f.record))
	assert.Equal(t, []msg{text("abc")}, f.result(nil).msgs, "another connection of the same Parser is unharmed")
	bad.Release()
	assert.True(t, bad.Empty())
	assert.Equal(t, start, Held(), "nothing is held after the failure and the finished message")
}
