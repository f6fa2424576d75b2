package wsframe

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// MaxControlPayload is the largest payload a control frame may carry.
const MaxControlPayload = 125

// AppendFrame appends an unmasked frame (server to client) to dst and
// returns the extended slice. The length uses the shortest encoding.
func AppendFrame(dst []byte, op ws.OpCode, fin bool, payload []byte) []byte {
	dst = appendHeader(dst, op, fin, 0, len(payload))
	return append(dst, payload...)
}

// AppendMaskedFrame appends a frame masked with mask (client to server) to
// dst and returns the extended slice. payload is left unchanged.
func AppendMaskedFrame(dst []byte, op ws.OpCode, fin bool, mask [4]byte, payload []byte) []byte {
	dst = appendHeader(dst, op, fin, maskBit, len(payload))
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	ws.Cipher(dst[start:], mask, 0)
	return dst
}

// AppendClose appends an unmasked close frame with code and reason to dst.
// Code 0 writes an empty close payload (no code); a reason longer than the
// 123 bytes a control frame leaves for it is cut at a character boundary.
func AppendClose(dst []byte, code ws.StatusCode, reason string) []byte {
	if code == 0 {
		return appendHeader(dst, ws.OpClose, true, 0, 0)
	}
	reason = truncateUTF8(reason, MaxControlPayload-2)
	dst = appendHeader(dst, ws.OpClose, true, 0, 2+len(reason))
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}

const (
	finBit  = 0x80
	maskBit = 0x80
	rsvBits = 0x70
	opBits  = 0x0F
	lenBits = 0x7F
	len16   = 126 // 7-bit length value announcing a 16-bit length
	len64   = 127 // 7-bit length value announcing a 64-bit length
)

func appendHeader(dst []byte, op ws.OpCode, fin bool, mask byte, n int) []byte {
	b0 := byte(op) & opBits
	if fin {
		b0 |= finBit
	}
	switch {
	case n <= MaxControlPayload:
		return append(dst, b0, mask|byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(dst, b0, mask|len16), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, b0, mask|len64), uint64(n))
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
