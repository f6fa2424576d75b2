package rfc6455

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/gobwas/ws"

	"github.com/gpush/gpush/core/wsframe"
	st "github.com/gpush/gpush/internal/servertest"
)

// Client frames. Every builder returns a fresh slice, masked with st.Mask
// unless its name says otherwise.

func frame(op ws.OpCode, fin bool, payload string) []byte {
	return wsframe.AppendMaskedFrame(nil, op, fin, st.Mask, []byte(payload))
}

func text(p string) []byte        { return frame(ws.OpText, true, p) }
func binaryFrame(p string) []byte { return frame(ws.OpBinary, true, p) }
func ping(p string) []byte        { return frame(ws.OpPing, true, p) }
func pong(p string) []byte        { return frame(ws.OpPong, true, p) }

// closeFrame is a close frame with code, any uint16, and reason.
func closeFrame(code uint16, reason string) []byte {
	return frame(ws.OpClose, true, string(binary.BigEndian.AppendUint16(nil, code))+reason)
}

// unmasked is a final frame without a mask.
func unmasked(op ws.OpCode, p string) []byte { return wsframe.AppendFrame(nil, op, true, []byte(p)) }

// RSV bits of the first header byte.
const (
	rsv1 byte = 0x40
	rsv2 byte = 0x20
	rsv3 byte = 0x10
)

// withBits returns f with bits set in its first header byte.
func withBits(bits byte, f []byte) []byte {
	f = append([]byte(nil), f...)
	f[0] |= bits
	return f
}

// header64 is a text frame header announcing n payload bytes in the 64-bit
// length form, followed by payload, masked.
func header64(n uint64, payload string) []byte {
	b := binary.BigEndian.AppendUint64([]byte{0x80 | byte(ws.OpText), 0x80 | 127}, n)
	b = append(b, st.Mask[:]...)
	p := []byte(payload)
	ws.Cipher(p, st.Mask, 0)
	return append(b, p...)
}

// fragments splits payload into a message of op: the first frame carries
// op, the others are continuations, the last is final. cuts are the byte
// offsets where one frame ends and the next begins.
func fragments(op ws.OpCode, payload string, cuts ...int) [][]byte {
	var out [][]byte
	start := 0
	for _, c := range append(cuts, len(payload)) {
		out = append(out, frame(op, c == len(payload), payload[start:c]))
		op, start = ws.OpContinuation, c
	}
	return out
}

// everyByte is cuts after every byte of a payload of n bytes.
func everyByte(n int) []int {
	cuts := make([]int, 0, n)
	for i := 1; i < n; i++ {
		cuts = append(cuts, i)
	}
	return cuts
}

// frames joins frames and frame lists into one list.
func frames(parts ...any) [][]byte {
	var out [][]byte
	for _, p := range parts {
		switch p := p.(type) {
		case []byte:
			out = append(out, p)
		case [][]byte:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("frames: %T is not a frame", p))
		}
	}
	return out
}

// Requests.

// req subscribes to topic t with id.
func req(id int) string { return fmt.Sprintf(`{"code":1,"topic":"t","id":%d}`, id) }

// reqTopic subscribes to topic with id.
func reqTopic(id int, topic string) string {
	return fmt.Sprintf(`{"code":1,"topic":"%s","id":%d}`, topic, id)
}

// reqData subscribes to topic t with id and data (unused by subscribe).
func reqData(id int, data string) string {
	return fmt.Sprintf(`{"code":1,"topic":"t","data":"%s","id":%d}`, data, id)
}

// padded is req(id) padded with spaces inside the object to n bytes.
func padded(id, n int) string {
	head := strings.TrimSuffix(req(id), "}")
	if n < len(head)+1 {
		panic(fmt.Sprintf("padded: %d bytes is too short for %s}", n, head))
	}
	return head + strings.Repeat(" ", n-len(head)-1) + "}"
}

// event is one thing the server does, as the runner describes it: a
// frame, or the socket ending. The constructors below build the expected
// ones; describe builds the observed ones in the same words.
type event string

// evEnd: the server closed the socket.
const evEnd event = "end"

// reply is the success reply to req(id).
func reply(id int) event { return replyWith(1, id, "t", 0) }

// replyWith is a reply with code, id (-1: none), topic and status.
func replyWith(code, id int, topic string, status int) event {
	sid := "-"
	if id >= 0 {
		sid = strconv.Itoa(id)
	}
	return event(fmt.Sprintf("reply code=%d id=%s topic=%q status=%d", code, sid, topic, status))
}

// textEv is a text frame that is not a reply.
func textEv(s string) event { return event("text " + short(s)) }

// pongEv is a pong control frame with payload p.
func pongEv(p string) event { return event("pong " + short(p)) }

// closeEv is a close frame with code; 0 means an empty close payload.
func closeEv(code int) event {
	if code == 0 {
		return "close (empty)"
	}
	return event(fmt.Sprintf("close %d", code))
}

// short quotes s, or names its length and checksum when it is long.
func short(s string) string {
	if len(s) <= 24 {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("<%d bytes, crc %08x>", len(s), crc32.ChecksumIEEE([]byte(s)))
}
