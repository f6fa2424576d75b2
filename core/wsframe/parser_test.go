package wsframe

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// result is what feeding a stream produced.
type result struct {
	msgs []msg
	err  error
	end  [3]int // Buffered(), header bytes held and state after the last Feed
}

// feeder runs Parsers over streams, reusing its buffers from run to run
// so that cutting a 64 KiB vector at every byte stays quick.
type feeder struct {
	in    []byte // copy of the stream: Feed unmasks in place
	arena []byte // payloads delivered, one after another
	ends  []int  // end of each payload in arena
	ops   []ws.OpCode
	end   [3]int // as in result
	p     Parser

	// parked: each piece goes through FeedParked, and p parses another
	// connection's stream between two pieces (interloper).
	parked bool
	k      Parked
	other  interloper
}

// feed runs a fresh Parser configured with cfg over in cut at cuts
// (ascending offsets) and records the deliveries and the state it ends in.
// After every Feed it checks the buffer invariants; a broken one is
// returned as problem.
func (f *feeder) feed(cfg Config, in []byte, cuts []int) (problem string, err error) {
	f.in = append(f.in[:0], in...)
	f.arena, f.ends, f.ops, f.end = f.arena[:0], f.ends[:0], f.ops[:0], [3]int{}
	p := &f.p
	p.Reset(cfg)
	f.k.Release()
	f.other.reset(cfg)
	prev := 0
	for i := 0; i <= len(cuts); i++ {
		end := len(f.in)
		if i < len(cuts) {
			end = cuts[i]
		}
		problem, err = f.feedPiece(f.in[prev:end])
		prev = end
		if problem != "" || err != nil {
			return problem, err
		}
		if problem = checkHeld(f.state()); problem != "" {
			return problem, nil
		}
	}
	st := f.state()
	f.end = [3]int{st.Buffered(), int(st.nhdr), int(st.state)}
	return "", nil
}

// feedPiece feeds the next piece of the stream; after an error it checks
// the failed state.
func (f *feeder) feedPiece(b []byte) (problem string, err error) {
	if !f.parked {
		if err = f.p.Feed(b, f.record); err != nil {
			return checkFailed(&f.p), err
		}
		return "", nil
	}
	if err = f.p.FeedParked(&f.k, b, f.record); err != nil {
		return checkParkedFailed(&f.p, &f.k), err
	}
	if !f.p.idle() {
		return "the working Parser is left inside a frame", nil
	}
	return f.other.next(&f.p), nil
}

// state is the Parser that holds the stream's state between pieces: p,
// or, parked, the Parser in k (a clean one when k is empty).
func (f *feeder) state() *Parser {
	switch {
	case !f.parked:
		return &f.p
	case f.k.Empty():
		return &Parser{max: f.p.max, cli: f.p.cli}
	}
	return f.k.p
}

func (f *feeder) record(op ws.OpCode, payload []byte) error {
	f.arena = append(f.arena, payload...)
	f.ends = append(f.ends, len(f.arena))
	f.ops = append(f.ops, op)
	return nil
}

// msg returns delivery i of the last run.
func (f *feeder) msg(i int) msg {
	start := 0
	if i > 0 {
		start = f.ends[i-1]
	}
	return msg{f.ops[i], f.arena[start:f.ends[i]]}
}

// result returns a copy of what the last run delivered, and err.
func (f *feeder) result(err error) result {
	res := result{err: err, end: f.end}
	for i := range f.ops {
		m := f.msg(i)
		res.msgs = append(res.msgs, msg{m.op, bytes.Clone(m.payload)})
	}
	return res
}

// feed is feeder.feed for a single run.
func feed(cfg Config, in []byte, cuts []int) (result, string) {
	var f feeder
	problem, err := f.feed(cfg, in, cuts)
	return f.result(err), problem
}

// checkHeld checks what p holds between two Feed calls: the data message
// part of the buffer never over MaxMessage, and at most the payload of one
// control frame besides, only while that control frame is incomplete.
func checkHeld(p *Parser) string {
	data := int(p.msgLen)
	if p.state == stPayload && p.op.IsData() {
		data += int(p.pos)
	}
	ctl := p.Buffered() - data
	switch {
	case p.Buffered() > p.limit()+MaxControlPayload:
		return fmt.Sprintf("Buffered() %d over MaxMessage %d + %d", p.Buffered(), p.limit(), MaxControlPayload)
	case data > p.limit():
		return fmt.Sprintf("message bytes held %d over MaxMessage %d", data, p.limit())
	case p.state == stPayload && p.op.IsControl() && ctl != int(p.pos):
		return fmt.Sprintf("control bytes held %d, received %d", ctl, p.pos)
	case !(p.state == stPayload && p.op.IsControl()) && ctl != 0:
		return fmt.Sprintf("%d bytes held besides the message", ctl)
	case p.Buffered() == 0 && p.acc != nil:
		return "an empty buffer is held"
	}
	return ""
}

func checkFailed(p *Parser) string {
	if p.Buffered() != 0 || p.acc != nil {
		return "buffer held after an error"
	}
	if err := p.Feed([]byte{0x81}, nil); !errors.Is(err, ErrFailed) {
		return fmt.Sprintf("Feed after an error returned %v, want ErrFailed", err)
	}
	return ""
}

func checkParkedFailed(p *Parser, k *Parked) string {
	if k.Buffered() != 0 || !k.Empty() {
		return "state parked after an error"
	}
	if err := p.FeedParked(k, []byte{0x81}, nil); !errors.Is(err, ErrFailed) {
		return fmt.Sprintf("FeedParked after an error returned %v, want ErrFailed", err)
	}
	if !p.idle() {
		return "a failed connection left the working Parser failed"
	}
	return ""
}

// interloper is another connection fed by the same working Parser between
// two pieces of a stream under test: a fragmented message with a ping in
// between (empty fragments: they fit any MaxMessage), 3 bytes at a time,
// so its state is parked, held and released in turn.
type interloper struct {
	in, buf []byte
	pos     int
	k       Parked
	got     int // messages delivered
}

func (o *interloper) reset(cfg Config) {
	o.k.Release()
	o.pos, o.got = 0, 0
	frame := mf
	if cfg.Client {
		frame = uf
	}
	o.in = cat(frame(ws.OpText, more, ""), frame(ws.OpPing, fin, "ping!"), frame(ws.OpContinuation, fin, ""))
}

// next feeds o's next 3 bytes through p and checks what o has had.
func (o *interloper) next(p *Parser) string {
	if o.pos == len(o.in) {
		o.pos = 0
	}
	end := min(o.pos+3, len(o.in))
	o.buf = append(o.buf[:0], o.in[o.pos:end]...) // Feed unmasks in place
	o.pos = end
	err := p.FeedParked(&o.k, o.buf, func(op ws.OpCode, b []byte) error {
		o.got++
		if (o.got%2 == 1 && op != ws.OpPing) || (o.got%2 == 0 && op != ws.OpText) || len(b) != 5*(o.got%2) {
			return fmt.Errorf("interloper delivery %d: %v %q", o.got, op, b)
		}
		return nil
	})
	if err != nil {
		return err.Error()
	}
	if !p.idle() {
		return "the interloper left the working Parser inside a frame"
	}
	return ""
}

// same reports whether the last run of f is what v expects.
func (v vector) same(f *feeder, err error) bool {
	if len(f.ops) != len(v.want) {
		return false
	}
	for i := range f.ops {
		m := f.msg(i)
		if m.op != v.want[i].op || !bytes.Equal(m.payload, v.want[i].payload) {
			return false
		}
	}
	if v.err == nil {
		return err == nil && f.end == [3]int{} // idle: the vectors end at a frame boundary
	}
	var ce *CloseError
	return errors.Is(err, v.err) && errors.As(err, &ce) && ce.Code == v.code
}

// check feeds v cut at cuts with f and asserts the result; how says which
// cut. It reports whether the result was right.
func (v vector) check(t *testing.T, f *feeder, cuts []int, how string) bool {
	t.Helper()
	problem, err := f.feed(v.cfg, v.in, cuts)
	if problem == "" && v.same(f, err) {
		return true
	}
	got := f.result(err)
	assert.Empty(t, problem, "%s: parser invariant", how)
	assert.Equal(t, v.want, got.msgs, "%s: delivered messages", how)
	assert.ErrorIs(t, got.err, v.err, "%s: error (want close code %d)", how, v.code)
	if v.err == nil {
		assert.Zero(t, got.end, "%s: idle at the end (Buffered, header bytes, state)", how)
	}
	return false
}

func TestVectorCodes(t *testing.T) {
	for _, v := range vectors {
		if v.err == nil {
			assert.Zero(t, v.code, "%s: a code without an error", v.name)
			continue
		}
		var ce *CloseError
		require.ErrorAs(t, v.err, &ce, v.name)
		assert.Equal(t, v.code, ce.Code, "%s: the sentinel carries the vector's close code", v.name)
	}
}

func TestFeedWhole(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) { v.check(t, new(feeder), nil, "whole") })
	}
}

// TestFeedSplit feeds every vector in two pieces, cut at every byte.
func TestFeedSplit(t *testing.T) {
	for _, m := range feedModes {
		for _, v := range vectors {
			t.Run(m.name+"/"+v.name, func(t *testing.T) {
				f := feeder{parked: m.parked}
				cut := []int{0}
				for cut[0] = 0; cut[0] <= len(v.in); cut[0]++ {
					if sampled(cut[0], len(v.in)) {
						continue
					}
					if !v.check(t, &f, cut, fmt.Sprintf("%s, cut at %d", m.name, cut[0])) {
						return
					}
				}
			})
		}
	}
}

// feedModes are the two ways the split tests feed each vector: a Parser of
// its own, and parked (FeedParked, with an interloper parsed between each
// two pieces: the state must survive being parked at any byte). rounds is
// TestFeedRandomSplits' iterations per vector.
var feedModes = []struct {
	name   string
	parked bool
	rounds int
}{{"own", false, 200}, {"parked", true, 50}}

// sampled reports whether cut c of an n-byte stream is skipped. Under the
// race detector only, a long stream is cut at every byte of its first and
// last 4 KiB, which hold all headers and frame boundaries of the vectors,
// and at every 61st byte of the long payload in between.
func sampled(c, n int) bool {
	const edge = 4096
	return raceEnabled && c > edge && c < n-edge && c%61 != 0
}

func TestFeedByteByByte(t *testing.T) {
	for _, m := range feedModes {
		for _, v := range vectors {
			t.Run(m.name+"/"+v.name, func(t *testing.T) {
				cuts := make([]int, 0, len(v.in))
				for c := 1; c < len(v.in); c++ {
					cuts = append(cuts, c)
				}
				v.check(t, &feeder{parked: m.parked}, cuts, m.name+", byte by byte")
			})
		}
	}
}

// TestFeedRandomSplits feeds every vector cut into random pieces (seeded).
func TestFeedRandomSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(6455, 1))
	for _, m := range feedModes {
		for _, v := range vectors {
			t.Run(m.name+"/"+v.name, func(t *testing.T) {
				f := feeder{parked: m.parked}
				for i := range m.rounds {
					cuts := randomCuts(rng, len(v.in))
					if !v.check(t, &f, cuts, fmt.Sprintf("%s, iteration %d, cuts %v", m.name, i, cuts)) {
						return
					}
				}
			})
		}
	}
}

// randomCuts returns up to 16 ascending cut points of an n-byte stream,
// repeats allowed (an empty Feed).
func randomCuts(rng *rand.Rand, n int) []int {
	cuts := make([]int, rng.IntN(17))
	for i := range cuts {
		cuts[i] = rng.IntN(n + 1)
	}
	for i := 1; i < len(cuts); i++ { // insertion sort: few cuts
		for j := i; j > 0 && cuts[j] < cuts[j-1]; j-- {
			cuts[j], cuts[j-1] = cuts[j-1], cuts[j]
		}
	}
	return cuts
}

func TestParserSize(t *testing.T) {
	size := unsafe.Sizeof(Parser{})
	t.Logf("unsafe.Sizeof(Parser{}) = %d", size)
	assert.LessOrEqual(t, size, uintptr(56), "Parser is kept per connection (gorilla, the test clients) or parked (epoll) and must stay small")
}

func TestZeroValueIsDefault(t *testing.T) {
	var p Parser
	var got []msg
	err := p.Feed(mf(ws.OpText, fin, pattern(4096)), func(op ws.OpCode, b []byte) error {
		got = append(got, msg{op, bytes.Clone(b)})
		return nil
	})
	require.NoError(t, err, "a zero Parser is a server parser with MaxMessage 4096")
	assert.Equal(t, []msg{text(pattern(4096))}, got)
	assert.ErrorIs(t, p.Feed(mf(ws.OpText, fin, pattern(4097)), nil), ErrTooBig, "4097 bytes is over the default")
}

// A MaxMessage beyond what a Parser's 32-bit lengths hold is clamped: a
// header that announces 4 GiB is refused at once, while frames within
// the limit pass.
func TestHugeMaxMessageClamped(t *testing.T) {
	var p Parser
	p.Reset(Config{MaxMessage: 1 << 40})
	assert.Equal(t, math.MaxInt32, p.limit())
	var got []msg
	err := p.Feed(mf(ws.OpText, fin, pattern(5000)), func(op ws.OpCode, b []byte) error {
		got = append(got, msg{op, bytes.Clone(b)})
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []msg{text(pattern(5000))}, got)
	hdr := []byte{0x81, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0} // 2^32 bytes
	assert.ErrorIs(t, p.Feed(hdr, nil), ErrTooBig)
}

// A negative MaxMessage means the default, however large its magnitude:
// the clamp to 32 bits must not wrap it into a small positive limit.
func TestNegativeMaxMessageIsDefault(t *testing.T) {
	for _, m := range []int{-1, -(1 << 32) + 5, -(1 << 40)} {
		var p Parser
		p.Reset(Config{MaxMessage: m})
		assert.Equal(t, DefaultMaxMessage, p.limit(), "MaxMessage %d", m)
	}
}

func TestZeroCopyWholeFrame(t *testing.T) {
	in := cat(mf(ws.OpText, fin, "hello"), mf(ws.OpPing, fin, "p"), mf(ws.OpBinary, fin, pattern(300)))
	offsets := []int{6, 6 + 5 + 6, 6 + 5 + 6 + 1 + 8}
	var seen []int
	var p Parser
	err := p.Feed(in, func(op ws.OpCode, payload []byte) error {
		seen = append(seen, int(uintptr(unsafe.Pointer(&payload[0]))-uintptr(unsafe.Pointer(&in[0]))))
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, offsets, seen, "whole frames are delivered from the read buffer")
	assert.Equal(t, "hello", string(in[6:11]), "the payload is unmasked in place")
	assert.Zero(t, p.Buffered())
}

func TestBufferedHalfFrame(t *testing.T) {
	payload := pattern(1000)
	in := mf(ws.OpBinary, fin, payload)
	hdr := len(in) - len(payload)
	for _, got := range []int{0, 1, 2, 3, 255, 256, 257, 999} {
		var p Parser
		require.NoError(t, p.Feed(bytes.Clone(in[:hdr+got]), nil), "a half frame delivers nothing")
		assert.LessOrEqual(t, p.Buffered(), got, "after %d payload bytes", got)
		assert.Equal(t, got, p.Buffered(), "after %d payload bytes", got)
		p.Reset(Config{})
		assert.Zero(t, p.Buffered(), "Reset releases the buffer")
		assert.Nil(t, p.acc)
	}
}

func TestBufferedFragments(t *testing.T) {
	var p Parser
	delivered := 0
	h := func(ws.OpCode, []byte) error { delivered++; return nil }
	require.NoError(t, p.Feed(mf(ws.OpText, more, "abc"), h))
	assert.Equal(t, 3, p.Buffered(), "the first fragment is held")
	half := mf(ws.OpPing, fin, "ping!")
	require.NoError(t, p.Feed(half[:len(half)-2], h))
	assert.Equal(t, 3+3, p.Buffered(), "a cut ping is held after the message")
	require.NoError(t, p.Feed(half[len(half)-2:], h))
	assert.Equal(t, 3, p.Buffered(), "the ping is dropped once delivered")
	require.NoError(t, p.Feed(mf(ws.OpContinuation, fin, "d"), h))
	assert.Zero(t, p.Buffered(), "idle after the message")
	assert.Nil(t, p.acc, "no buffer while idle")
	assert.Equal(t, 2, delivered)
}

func TestHandlerError(t *testing.T) {
	stop := errors.New("stop")
	in := cat(mf(ws.OpText, fin, "a"), mf(ws.OpText, fin, "b"), mf(ws.OpText, fin, "c"))
	var p Parser
	var got []string
	err := p.Feed(in, func(_ ws.OpCode, b []byte) error {
		got = append(got, string(b))
		if string(b) == "b" {
			return stop
		}
		return nil
	})
	assert.Same(t, stop, err, "Feed returns the handler's error as it is")
	assert.Equal(t, []string{"a", "b"}, got, "nothing is delivered after the error")
	assert.ErrorIs(t, p.Feed(in, nil), ErrFailed, "a failed Parser refuses input")
}

func TestCloseErrorMessage(t *testing.T) {
	assert.Equal(t, "wsframe: message too big (close 1009)", ErrTooBig.Error())
	var ce *CloseError
	require.ErrorAs(t, fmt.Errorf("conn 7: %w", ErrUnmasked), &ce, "wrapped violations keep their code")
	assert.Equal(t, ws.StatusProtocolError, ce.Code)
}
