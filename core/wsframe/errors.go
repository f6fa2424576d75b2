package wsframe

import (
	"errors"
	"strconv"

	"github.com/gobwas/ws"
)

// CloseError is a protocol violation: the peer must be sent a close frame
// with Code (and optionally Reason) and the connection closed.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

// Error implements error.
func (e *CloseError) Error() string {
	return "wsframe: " + e.Reason + " (close " + strconv.Itoa(int(e.Code)) + ")"
}

func protocolError(reason string) *CloseError {
	return &CloseError{Code: ws.StatusProtocolError, Reason: reason}
}

// Violations found while parsing. Each is a *CloseError; compare with
// errors.Is, read the code with errors.As.
var (
	// ErrReservedBits: RSV1-3 set while no extension is negotiated (1002).
	ErrReservedBits = protocolError("reserved bits set")
	// ErrReservedOpcode: opcode 0x3-0x7 or 0xB-0xF (1002).
	ErrReservedOpcode = protocolError("reserved opcode")
	// ErrControlFragmented: control frame with FIN unset (1002).
	ErrControlFragmented = protocolError("fragmented control frame")
	// ErrControlTooLong: control frame payload over 125 bytes (1002).
	ErrControlTooLong = protocolError("control frame payload over 125 bytes")
	// ErrContinuation: continuation frame with no message started (1002).
	ErrContinuation = protocolError("continuation frame without a message")
	// ErrMessageOpen: text or binary frame inside a fragmented message (1002).
	ErrMessageOpen = protocolError("data frame inside a fragmented message")
	// ErrUnmasked: unmasked frame from a client (server side, 1002).
	ErrUnmasked = protocolError("unmasked client frame")
	// ErrMasked: masked frame from a server (client side, 1002).
	ErrMasked = protocolError("masked server frame")
	// ErrLength: 64-bit payload length with the most significant bit set (1002).
	ErrLength = protocolError("payload length with the high bit set")
	// ErrCloseLength: close payload of exactly 1 byte (1002).
	ErrCloseLength = protocolError("close payload of 1 byte")
	// ErrCloseCode: close code that must not be sent (1002).
	ErrCloseCode = protocolError("invalid close code")
	// ErrTooBig: frame or assembled message over Config.MaxMessage (1009).
	ErrTooBig = &CloseError{Code: ws.StatusMessageTooBig, Reason: "message too big"}
	// ErrInvalidUTF8: text message that is not UTF-8 (1007).
	ErrInvalidUTF8 = &CloseError{Code: ws.StatusInvalidFramePayloadData, Reason: "invalid UTF-8 in text message"}
	// ErrCloseReason: close reason that is not UTF-8 (1007).
	ErrCloseReason = &CloseError{Code: ws.StatusInvalidFramePayloadData, Reason: "invalid UTF-8 in close reason"}
)

// ErrFailed is returned by Feed on a Parser that already returned an error.
var ErrFailed = errors.New("wsframe: parser fed after an error")
