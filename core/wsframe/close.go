package wsframe

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// ParseClose reads the payload of a close frame: a 2-byte code followed by
// a UTF-8 reason. An empty payload means no code was sent and is reported
// as ws.StatusNoStatusRcvd (1005) with no error. Errors: ErrCloseLength for
// a 1-byte payload, ErrCloseCode for a code that must not be sent (1002),
// ErrCloseReason for a reason that is not UTF-8 (1007).
func ParseClose(payload []byte) (code ws.StatusCode, reason string, err error) {
	if err := checkClose(payload); err != nil {
		return 0, "", err
	}
	if len(payload) == 0 {
		return ws.StatusNoStatusRcvd, "", nil
	}
	return closeCode(payload), string(payload[2:]), nil
}

// checkClose is ParseClose without the copy of the reason.
func checkClose(payload []byte) error {
	switch {
	case len(payload) == 0:
		return nil
	case len(payload) == 1:
		return ErrCloseLength
	case !validCloseCode(closeCode(payload)):
		return ErrCloseCode
	case !utf8.Valid(payload[2:]):
		return ErrCloseReason
	}
	return nil
}

func closeCode(payload []byte) ws.StatusCode {
	return ws.StatusCode(binary.BigEndian.Uint16(payload))
}

// validCloseCode reports whether an endpoint may send code (RFC 6455 7.4):
// 1000-1003 and 1007-1014 are defined by the protocol (1004 is reserved,
// 1005, 1006 and 1015 must never be sent, 1016-2999 are unassigned), and
// 3000-4999 belong to libraries and applications.
func validCloseCode(code ws.StatusCode) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	}
	return code >= 3000 && code <= 4999
}
