package nbio

import (
	"testing"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"

	"github.com/gpush/gpush/core/wsframe"
)

func TestMaskCheck(t *testing.T) {
	mask := [4]byte{9, 8, 7, 6}
	var stream []byte
	for _, n := range []int{0, 5, 125, 126, 300, 70000} {
		stream = wsframe.AppendMaskedFrame(stream, ws.OpText, true, mask, make([]byte, n))
	}
	unmasked := wsframe.AppendFrame(nil, ws.OpText, true, []byte("hi"))

	for _, step := range []int{1, 2, 3, 7, 64, len(stream)} {
		var m maskCheck
		ok := true
		for i := 0; i < len(stream); i += step {
			ok = ok && m.feed(stream[i:min(i+step, len(stream))])
		}
		assert.True(t, ok, "masked frames in pieces of %d", step)
		assert.Zero(t, m.skip, "at a frame boundary after the stream, pieces of %d", step)
		assert.Zero(t, m.n, "no partial header, pieces of %d", step)

		bad := append(append([]byte(nil), stream...), unmasked...)
		m = maskCheck{}
		ok = true
		for i := 0; i < len(bad); i += step {
			ok = ok && m.feed(bad[i:min(i+step, len(bad))])
		}
		assert.False(t, ok, "the unmasked frame after masked ones, pieces of %d", step)
	}
}
