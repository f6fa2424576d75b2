package wsframe

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
)

// TestAppendFrameHeaders checks the header bytes of each length form; the
// frames themselves are decoded by the parser tests, whose vectors the
// builders make.
func TestAppendFrameHeaders(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	tests := []struct {
		n      int
		header []byte
	}{
		{0, []byte{0x82, 0x00}},
		{125, []byte{0x82, 0x7D}},
		{126, []byte{0x82, 0x7E, 0x00, 0x7E}},
		{65535, []byte{0x82, 0x7E, 0xFF, 0xFF}},
		{65536, []byte{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, tt := range tests {
		payload := bytes.Repeat([]byte{'x'}, tt.n)
		got := AppendFrame(nil, ws.OpBinary, true, payload)
		assert.Equal(t, tt.header, got[:len(tt.header)], "unmasked header, length %d", tt.n)
		assert.Equal(t, payload, got[len(tt.header):], "unmasked payload, length %d", tt.n)

		got = AppendMaskedFrame(nil, ws.OpBinary, true, mask, payload)
		want := append(bytes.Clone(tt.header), mask[:]...)
		want[1] |= maskBit
		assert.Equal(t, want, got[:len(want)], "masked header, length %d", tt.n)
		body := got[len(want):]
		ws.Cipher(body, mask, 0)
		assert.Equal(t, payload, body, "masked payload, length %d", tt.n)
	}
	assert.Equal(t, []byte{0x01, 0x02, 'h', 'i'}, AppendFrame(nil, ws.OpText, false, []byte("hi")), "FIN unset")
	assert.Equal(t, []byte{0x80, 0x00}, AppendFrame(nil, ws.OpContinuation, true, nil), "final continuation")
}
