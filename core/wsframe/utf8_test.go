package wsframe

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

// stepAll runs the byte-by-byte state machine over p.
func stepAll(p []byte) uint8 {
	s := utf8Accept
	for _, c := range p {
		s = utf8Step(s, c)
	}
	return s
}

// TestUTF8StepMatchesStdlib compares the state machine with utf8.Valid on
// every 1-3 byte sequence and on 4-byte sequences around every range edge.
func TestUTF8StepMatchesStdlib(t *testing.T) {
	var b [4]byte
	for i := range 1 << 24 {
		b[0], b[1], b[2] = byte(i>>16), byte(i>>8), byte(i)
		for n := 1; n <= 3; n++ {
			if n < 3 && i&(1<<(8*(3-n))-1) != 0 {
				continue // shorter sequences once each
			}
			if (stepAll(b[:n]) == utf8Accept) != utf8.Valid(b[:n]) {
				assert.Fail(t, "state machine and utf8.Valid disagree", "% x", b[:n])
				return
			}
		}
	}
	edges := []byte{0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF}
	for lead := 0xF0; lead <= 0xFF; lead++ {
		for _, c1 := range edges {
			for _, c2 := range edges {
				for _, c3 := range edges {
					b = [4]byte{byte(lead), c1, c2, c3}
					assert.Equal(t, utf8.Valid(b[:]), stepAll(b[:]) == utf8Accept, "% x", b)
				}
			}
		}
	}
}

// TestUTF8ContinueSplits checks that validating in pieces agrees with
// utf8.Valid on the whole, for text made of valid and invalid pieces cut
// at random points.
func TestUTF8ContinueSplits(t *testing.T) {
	pieces := []string{"a", "é", "€", "👋", "\U0010FFFF", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80",
		"\xF4\x90\x80\x80", "\xff", "\x80", "\xE2\x82", "\xF0\x9F"}
	rng := rand.New(rand.NewPCG(3629, 7))
	for range 20000 {
		var s []byte
		for range rng.IntN(8) {
			p := pieces[rng.IntN(len(pieces))]
			if rng.IntN(3) > 0 {
				p = pieces[rng.IntN(5)] // mostly valid
			}
			s = append(s, p...)
		}
		state := utf8Accept
		for rest := s; len(rest) > 0; {
			n := 1 + rng.IntN(len(rest))
			state = utf8Continue(state, rest[:n])
			rest = rest[n:]
		}
		if (state == utf8Accept) != utf8.Valid(s) {
			assert.Fail(t, "validation in pieces disagrees with utf8.Valid", "% x", s)
			return
		}
		if state == utf8Reject {
			assert.False(t, utf8.Valid(s), "rejected only when invalid: % x", s)
		}
	}
}

func TestUTF8RejectIsEarly(t *testing.T) {
	assert.Equal(t, utf8Reject, utf8Continue(utf8Accept, []byte("ab\xE0\x80")), "overlong known at its second byte")
	assert.Equal(t, utf8Reject, utf8Continue(utf8Accept, []byte("\xED\xA0")), "surrogate known at its second byte")
	assert.Equal(t, utf8Need2, utf8Continue(utf8Accept, []byte("a\xF0\x9F")), "a cut sequence is pending")
	assert.Equal(t, utf8Accept, utf8Continue(utf8Need2, []byte("\x91\x8B")), "and completes in the next piece")
}
