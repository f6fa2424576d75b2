package wsframe

import (
	"fmt"
	"testing"

	"github.com/gobwas/ws"
)

// benchMask has no high bits: an ASCII payload stays ASCII masked and
// unmasked, so the same buffer can be fed again and again (each Feed
// unmasks it in place, the next one masks it back) and stays valid text.
var benchMask = [4]byte{0x12, 0x34, 0x56, 0x78}

// benchStream is about 64 KiB of masked text frames of size bytes each,
// in frags fragments per message, and the number of messages.
func benchStream(size, frags int) ([]byte, int) {
	payload := []byte(pattern(size))
	var buf []byte
	n := 0
	for len(buf) < 64<<10 {
		op, step := ws.OpText, size/frags
		for i := 0; i < frags; i++ {
			end := (i + 1) * step
			if i == frags-1 {
				end = size
			}
			buf = AppendMaskedFrame(buf, op, i == frags-1, benchMask, payload[i*step:end])
			op = ws.OpContinuation
		}
		n++
	}
	return buf, n
}

func BenchmarkFeed(b *testing.B) {
	eachFeedCase(b, func(b *testing.B, size, split int) { benchFeed(b, size, 1, split) })
	for _, frags := range []int{4} {
		b.Run(fmt.Sprintf("size=4096/frags=%d/split=none", frags), func(b *testing.B) { benchFeed(b, 4096, frags, 0) })
	}
}

// BenchmarkFeedParked is BenchmarkFeed through FeedParked: the cost of
// parking a connection's state between reads, in the working Parser of an
// event loop, instead of keeping a Parser per connection.
func BenchmarkFeedParked(b *testing.B) {
	eachFeedCase(b, benchFeedParked)
}

// eachFeedCase runs bench for every message size and piece size of the
// feed benchmarks, named size=N/split=M (split=none: all at once).
func eachFeedCase(b *testing.B, bench func(b *testing.B, size, split int)) {
	for _, size := range []int{16, 64, 4096} {
		for _, split := range []int{0, 1, 1448} {
			name := fmt.Sprintf("size=%d/split=%d", size, split)
			if split == 0 {
				name = fmt.Sprintf("size=%d/split=none", size)
			}
			b.Run(name, func(b *testing.B) { bench(b, size, split) })
		}
	}
}

// benchFeed feeds a stream of messages of size bytes in frags fragments,
// in pieces of split bytes (0: all at once), counting messages delivered.
func benchFeed(b *testing.B, size, frags, split int) {
	var p Parser
	benchFeedWith(b, size, frags, func(buf []byte, h Handler) error { return feedSplit(&p, buf, split, h) })
}

func benchFeedParked(b *testing.B, size, split int) {
	var p Parser
	var k Parked
	benchFeedWith(b, size, 1, func(buf []byte, h Handler) error { return feedParkedSplit(&p, &k, buf, split, h) })
}

// benchFeedWith measures feed over the stream of benchFeed.
func benchFeedWith(b *testing.B, size, frags int, feed func([]byte, Handler) error) {
	buf, msgs := benchStream(size, frags)
	got := 0
	h := func(ws.OpCode, []byte) error { got++; return nil }
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := feed(buf, h); err != nil {
			b.Fatal(err)
		}
	}
	if got != b.N*msgs {
		b.Fatalf("delivered %d messages, want %d", got, b.N*msgs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(got), "ns/msg")
}

func feedSplit(p *Parser, buf []byte, split int, h Handler) error {
	if split == 0 {
		return p.Feed(buf, h)
	}
	for len(buf) > 0 {
		n := min(split, len(buf))
		if err := p.Feed(buf[:n], h); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

// feedParkedSplit is feedSplit through FeedParked.
func feedParkedSplit(p *Parser, k *Parked, buf []byte, split int, h Handler) error {
	if split == 0 {
		return p.FeedParked(k, buf, h)
	}
	for len(buf) > 0 {
		n := min(split, len(buf))
		if err := p.FeedParked(k, buf[:n], h); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}
