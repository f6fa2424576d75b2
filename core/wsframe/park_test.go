package wsframe

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The parked tests run the vectors through FeedParked, one working Parser
// for the stream under test and an interloper that parses between each
// two of its pieces: the state must survive being parked at any byte.

// TestFeedParkedSplit feeds every vector parked, in two pieces cut at
// every byte.
func TestFeedParkedSplit(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			f := feeder{parked: true}
			cut := []int{0}
			for cut[0] = 0; cut[0] <= len(v.in); cut[0]++ {
				if sampled(cut[0], len(v.in)) {
					continue
				}
				if !v.check(t, &f, cut, fmt.Sprintf("parked, cut at %d", cut[0])) {
					return
				}
			}
		})
	}
}

func TestFeedParkedByteByByte(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			cuts := make([]int, 0, len(v.in))
			for c := 1; c < len(v.in); c++ {
				cuts = append(cuts, c)
			}
			v.check(t, &feeder{parked: true}, cuts, "parked, byte by byte")
		})
	}
}

func TestFeedParkedRandomSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(6455, 2))
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			f := feeder{parked: true}
			for i := range 50 {
				cuts := randomCuts(rng, len(v.in))
				if !v.check(t, &f, cuts, fmt.Sprintf("parked, iteration %d, cuts %v", i, cuts)) {
					return
				}
			}
		})
	}
}

// collect returns a Handler that appends copies of what it gets to got.
func collect(got *[]msg) Handler {
	return func(op ws.OpCode, b []byte) error {
		*got = append(*got, msg{op, bytes.Clone(b)})
		return nil
	}
}

func TestParkedFragmentedAcrossReads(t *testing.T) {
	var p Parser
	var k Parked
	var got []msg
	h := collect(&got)
	require.NoError(t, p.FeedParked(&k, mf(ws.OpText, fin, "whole"), h))
	assert.True(t, k.Empty(), "nothing is parked after whole frames")
	require.NoError(t, p.FeedParked(&k, mf(ws.OpText, more, "abc"), h))
	assert.False(t, k.Empty(), "an open message is parked")
	assert.Equal(t, 3, k.Buffered(), "the first fragment is held")
	pf := mf(ws.OpPing, fin, "ping!")
	require.NoError(t, p.FeedParked(&k, pf[:len(pf)-2], h))
	assert.Equal(t, 3+3, k.Buffered(), "a cut ping is held after the message")
	require.NoError(t, p.FeedParked(&k, cat(pf[len(pf)-2:], mf(ws.OpContinuation, more, "de")), h))
	assert.Equal(t, 5, k.Buffered(), "the ping is delivered, the second fragment held")
	require.NoError(t, p.FeedParked(&k, mf(ws.OpContinuation, fin, "f"), h))
	assert.True(t, k.Empty(), "the state is released when the message completes")
	assert.Equal(t, []msg{text("whole"), ping("ping!"), text("abcdef")}, got)
	assert.True(t, p.idle(), "the working Parser is left at a frame boundary")
}

func TestParkedReleaseMidFrame(t *testing.T) {
	var p Parser
	p.Reset(Config{MaxMessage: 1000})
	in := mf(ws.OpBinary, fin, pattern(1000))
	var k Parked
	require.NoError(t, p.FeedParked(&k, in[:len(in)-10], nil), "a half frame delivers nothing")
	require.False(t, k.Empty())
	assert.Equal(t, 990, k.Buffered())
	parked := k.p
	k.Release()
	assert.True(t, k.Empty(), "Release empties the Parked")
	assert.Zero(t, k.Buffered())
	assert.Nil(t, parked.acc, "the buffer went back to its pool")

	var got []msg
	require.NoError(t, p.FeedParked(&k, mf(ws.OpText, fin, "next"), collect(&got)))
	assert.Equal(t, []msg{text("next")}, got, "a released Parked starts at a frame boundary")
	assert.Equal(t, 1000, p.limit(), "the working Parser keeps its Config")
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
	var p Parser
	var bad, good Parked
	var got []msg
	require.NoError(t, p.FeedParked(&good, mf(ws.OpText, more, "ab"), collect(&got)))
	err := p.FeedParked(&bad, cat(mf(ws.OpText, more, "xy"), uf(ws.OpContinuation, fin, "unmasked")), nil)
	require.ErrorIs(t, err, ErrUnmasked)
	assert.True(t, bad.Empty(), "a failed connection parks nothing")
	assert.ErrorIs(t, p.FeedParked(&bad, mf(ws.OpText, fin, "more"), nil), ErrFailed, "and refuses input")
	require.NoError(t, p.FeedParked(&good, mf(ws.OpContinuation, fin, "c"), collect(&got)))
	assert.Equal(t, []msg{text("abc")}, got, "another connection of the same Parser is unharmed")
	bad.Release()
	assert.True(t, bad.Empty())
}
