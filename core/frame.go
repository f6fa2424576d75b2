package core

import (
	"github.com/gobwas/ws"

	"github.com/gpush/gpush/core/wsframe"
)

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

// AppendFrame appends one unmasked, final server frame to dst: the
// encoding lives once, in core/wsframe.
func AppendFrame(dst []byte, opcode byte, payload []byte) []byte {
	return wsframe.AppendFrame(dst, ws.OpCode(opcode), true, payload)
}

// CloseFrame encodes a close frame with a status code and reason; code 0
// gives an empty close frame.
func CloseFrame(code int, reason string) []byte {
	return wsframe.AppendClose(make([]byte, 0, len(reason)+4), ws.StatusCode(code), reason)
}

var (
	pongText = AppendFrame(nil, OpcodeText, []byte("pong"))
)
