package core

import "encoding/binary"

// Opcodes of the frames the server writes.
const (
	OpcodeText   byte = 0x1
	OpcodeBinary byte = 0x2
	OpcodeClose  byte = 0x8
	OpcodePing   byte = 0x9
	OpcodePong   byte = 0xA
)

// Close codes the server sends.
const (
	CloseNormal        = 1000
	CloseGoingAway     = 1001
	CloseProtocolError = 1002
	CloseUnsupported   = 1003
	CloseInvalidData   = 1007
	ClosePolicy        = 1008
	CloseTooBig        = 1009
	CloseInternal      = 1011
)

// AppendFrame appends one unmasked, final server frame to dst.
func AppendFrame(dst []byte, opcode byte, payload []byte) []byte {
	n := len(payload)
	dst = append(dst, 0x80|opcode)
	switch {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126, 0, 0)
		binary.BigEndian.PutUint16(dst[len(dst)-2:], uint16(n))
	default:
		dst = append(dst, 127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(dst[len(dst)-8:], uint64(n))
	}
	return append(dst, payload...)
}

// CloseFrame encodes a close frame with a status code and reason.
func CloseFrame(code int, reason string) []byte {
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	p = append(p, reason...)
	return AppendFrame(make([]byte, 0, len(p)+4), OpcodeClose, p)
}

var (
	pongText = AppendFrame(nil, OpcodeText, []byte("pong"))
)
