package wsframe

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/gobwas/ws"
)

// msg is one delivery to a Handler.
type msg struct {
	op      ws.OpCode
	payload []byte
}

// vector is one input stream and what parsing it must produce, however it
// is cut: the messages delivered, in order, then the error (code 0: none).
// Every vector without an error ends at a frame boundary.
type vector struct {
	name string
	cfg  Config
	in   []byte
	want []msg
	code ws.StatusCode // close code of the expected error, 0 for none
	err  error         // the expected sentinel, nil for none
}

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// mf is a masked (client to server) frame.
func mf(op ws.OpCode, fin bool, payload string) []byte {
	return AppendMaskedFrame(nil, op, fin, testMask, []byte(payload))
}

// uf is an unmasked (server to client) frame.
func uf(op ws.OpCode, fin bool, payload string) []byte {
	return AppendFrame(nil, op, fin, []byte(payload))
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// withB0 is frame f with bits set in its first byte.
func withB0(f []byte, bits byte) []byte {
	f = bytes.Clone(f)
	f[0] |= bits
	return f
}

// maskedHeader is a masked frame header with payload length n in the
// given length form (0, len16 or len64), allowing non-minimal forms.
func maskedHeader(b0 byte, form byte, n uint64) []byte {
	h := []byte{b0, maskBit | form}
	switch form {
	case len16:
		h = binary.BigEndian.AppendUint16(h, uint16(n))
	case len64:
		h = binary.BigEndian.AppendUint64(h, n)
	default:
		h[1] = maskBit | byte(n)
	}
	return append(h, testMask[:]...)
}

// maskedPayload is payload masked with testMask.
func maskedPayload(payload string) []byte {
	b := []byte(payload)
	ws.Cipher(b, testMask, 0)
	return b
}

func closeBody(code ws.StatusCode, reason string) string {
	return string(binary.BigEndian.AppendUint16(nil, uint16(code))) + reason
}

func text(s string) msg     { return msg{ws.OpText, []byte(s)} }
func bin(s string) msg      { return msg{ws.OpBinary, []byte(s)} }
func ping(s string) msg     { return msg{ws.OpPing, []byte(s)} }
func pong(s string) msg     { return msg{ws.OpPong, []byte(s)} }
func closeMsg(s string) msg { return msg{ws.OpClose, []byte(s)} }

const (
	fin  = true
	more = false
)

// pattern is n bytes of printable ASCII.
func pattern(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteByte(byte('a' + i%26))
	}
	return b.String()
}

var big = Config{MaxMessage: 1 << 17}

// vectors is the one table every parser test and the fuzz seed corpus use.
var vectors = buildVectors()

func buildVectors() []vector {
	ok := []vector{
		{name: "text/tiny", in: mf(ws.OpText, fin, "hi"), want: []msg{text("hi")}},
		{name: "text/empty", in: mf(ws.OpText, fin, ""), want: []msg{text("")}},
		{name: "binary/empty", in: mf(ws.OpBinary, fin, ""), want: []msg{bin("")}},
		{name: "text/utf8", in: mf(ws.OpText, fin, "héllo, 世界 👋"), want: []msg{text("héllo, 世界 👋")}},
		{name: "binary/len=125", in: mf(ws.OpBinary, fin, pattern(125)), want: []msg{bin(pattern(125))}},
		{name: "binary/len=126", in: mf(ws.OpBinary, fin, pattern(126)), want: []msg{bin(pattern(126))}},
		{name: "text/len=4096", in: mf(ws.OpText, fin, pattern(4096)), want: []msg{text(pattern(4096))}},
		{name: "binary/len=65535", cfg: big, in: mf(ws.OpBinary, fin, pattern(65535)), want: []msg{bin(pattern(65535))}},
		{name: "binary/len=65536", cfg: big, in: mf(ws.OpBinary, fin, pattern(65536)), want: []msg{bin(pattern(65536))}},
		{
			name: "text/nonminimal-16",
			in:   cat(maskedHeader(finBit|byte(ws.OpText), len16, 5), maskedPayload("hello")),
			want: []msg{text("hello")},
		},
		{
			name: "text/nonminimal-64",
			in:   cat(maskedHeader(finBit|byte(ws.OpText), len64, 5), maskedPayload("hello")),
			want: []msg{text("hello")},
		},
		{
			name: "many/in-one-buffer",
			in: cat(mf(ws.OpText, fin, "one"), mf(ws.OpBinary, fin, "two"), mf(ws.OpPing, fin, "p"),
				mf(ws.OpPong, fin, ""), mf(ws.OpText, fin, pattern(300)), mf(ws.OpText, fin, "end")),
			want: []msg{text("one"), bin("two"), ping("p"), pong(""), text(pattern(300)), text("end")},
		},
		{name: "control/ping", in: mf(ws.OpPing, fin, "are you there"), want: []msg{ping("are you there")}},
		{name: "control/ping-125", in: mf(ws.OpPing, fin, pattern(125)), want: []msg{ping(pattern(125))}},
		{name: "control/pong-empty", in: mf(ws.OpPong, fin, ""), want: []msg{pong("")}},
		{name: "close/empty", in: mf(ws.OpClose, fin, ""), want: []msg{closeMsg("")}},
		{
			name: "close/code-reason",
			in:   mf(ws.OpClose, fin, closeBody(1000, "bye ✓")),
			want: []msg{closeMsg(closeBody(1000, "bye ✓"))},
		},
		{
			name: "fragmented/text-ping-between",
			in: cat(mf(ws.OpText, more, "Hel"), mf(ws.OpPing, fin, "p1"), mf(ws.OpContinuation, more, "lo, "),
				mf(ws.OpPong, fin, ""), mf(ws.OpContinuation, fin, "world")),
			want: []msg{ping("p1"), pong(""), text("Hello, world")},
		},
		{
			name: "fragmented/binary",
			in: cat(mf(ws.OpBinary, more, pattern(200)), mf(ws.OpContinuation, more, "x"),
				mf(ws.OpContinuation, fin, pattern(300))),
			want: []msg{bin(pattern(200) + "x" + pattern(300))},
		},
		{
			name: "fragmented/empty",
			in:   cat(mf(ws.OpText, more, ""), mf(ws.OpContinuation, more, ""), mf(ws.OpContinuation, fin, "")),
			want: []msg{text("")},
		},
		{
			name: "fragmented/close-between",
			in: cat(mf(ws.OpText, more, "a"), mf(ws.OpClose, fin, closeBody(1001, "going")),
				mf(ws.OpContinuation, fin, "b")),
			want: []msg{closeMsg(closeBody(1001, "going")), text("ab")},
		},
		{
			name: "fragmented/exactly-max",
			in:   cat(mf(ws.OpText, more, pattern(3000)), mf(ws.OpContinuation, fin, pattern(1096))),
			want: []msg{text(pattern(3000) + pattern(1096))},
		},
		{
			name: "fragmented/then-more",
			in: cat(mf(ws.OpText, more, "a"), mf(ws.OpContinuation, fin, "b"), mf(ws.OpBinary, more, "c"),
				mf(ws.OpContinuation, fin, "d"), mf(ws.OpText, fin, "e")),
			want: []msg{text("ab"), bin("cd"), text("e")},
		},
		{
			name: "utf8/split-across-fragments",
			in: cat(mf(ws.OpText, more, "a\xE2"), mf(ws.OpContinuation, more, "\x82"),
				mf(ws.OpContinuation, more, "\xAC\xF0\x9F"), mf(ws.OpContinuation, fin, "\x91\x8B!")),
			want: []msg{text("a€👋!")},
		},
		{name: "utf8/max-code-point", in: mf(ws.OpText, fin, "\xF4\x8F\xBF\xBF"), want: []msg{text("\U0010FFFF")}},
		{name: "client/unmasked", cfg: Config{Client: true}, in: uf(ws.OpText, fin, "hi"), want: []msg{text("hi")}},
		{
			name: "client/fragmented",
			cfg:  Config{Client: true},
			in: cat(uf(ws.OpBinary, more, "ab"), uf(ws.OpPing, fin, ""), uf(ws.OpContinuation, fin, "cd"),
				uf(ws.OpClose, fin, closeBody(1000, ""))),
			want: []msg{ping(""), bin("abcd"), closeMsg(closeBody(1000, ""))},
		},
		{
			name: "client/len=65536",
			cfg:  Config{Client: true, MaxMessage: 1 << 17},
			in:   uf(ws.OpBinary, fin, pattern(65536)),
			want: []msg{bin(pattern(65536))},
		},
	}
	for _, code := range []ws.StatusCode{1000, 1001, 1002, 1003, 1007, 1011, 1012, 1014, 3000, 4999} {
		body := closeBody(code, "r")
		ok = append(ok, vector{
			name: fmt.Sprintf("close/code=%d", code),
			in:   mf(ws.OpClose, fin, body),
			want: []msg{closeMsg(body)},
		})
	}
	return append(ok, violations()...)
}

// violations are the vectors that must fail; the messages before the
// violation are still delivered.
func violations() []vector {
	pre := mf(ws.OpText, fin, "before")
	before := []msg{text("before")}
	proto := func(name string, err error, in ...[]byte) vector {
		return vector{name: name, in: cat(pre, cat(in...)), want: before, code: ws.StatusProtocolError, err: err}
	}
	tooBig := func(name string, cfg Config, want []msg, in ...[]byte) vector {
		return vector{name: name, cfg: cfg, in: cat(in...), want: want, code: ws.StatusMessageTooBig, err: ErrTooBig}
	}
	badText := func(name string, want []msg, in ...[]byte) vector {
		return vector{name: name, in: cat(in...), want: want, code: ws.StatusInvalidFramePayloadData, err: ErrInvalidUTF8}
	}
	vs := []vector{
		proto("rsv/1", ErrReservedBits, withB0(mf(ws.OpText, fin, "x"), 0x40)),
		proto("rsv/2", ErrReservedBits, withB0(mf(ws.OpBinary, fin, "x"), 0x20)),
		proto("rsv/3", ErrReservedBits, withB0(mf(ws.OpPing, fin, "x"), 0x10)),
		proto("control/ping-126", ErrControlTooLong, mf(ws.OpPing, fin, pattern(126))),
		proto("control/close-126", ErrControlTooLong, mf(ws.OpClose, fin, closeBody(1000, pattern(124)))),
		proto("control/ping-fragmented", ErrControlFragmented, mf(ws.OpPing, more, "p")),
		proto("control/close-fragmented", ErrControlFragmented, mf(ws.OpClose, more, "")),
		proto("continuation/without-message", ErrContinuation, mf(ws.OpContinuation, fin, "x")),
		{
			name: "continuation/after-final",
			in:   cat(mf(ws.OpText, more, "a"), mf(ws.OpContinuation, fin, "b"), mf(ws.OpContinuation, fin, "c")),
			want: []msg{text("ab")}, code: ws.StatusProtocolError, err: ErrContinuation,
		},
		proto("fragmented/text-inside-message", ErrMessageOpen, mf(ws.OpText, more, "a"), mf(ws.OpText, fin, "b")),
		{
			name: "fragmented/binary-inside-message",
			in:   cat(mf(ws.OpBinary, more, "a"), mf(ws.OpPing, fin, ""), mf(ws.OpBinary, more, "b")),
			want: []msg{ping("")}, code: ws.StatusProtocolError, err: ErrMessageOpen,
		},
		proto("mask/unmasked-client-frame", ErrUnmasked, uf(ws.OpText, fin, "x")),
		proto("mask/unmasked-client-ping", ErrUnmasked, uf(ws.OpPing, fin, "")),
		proto("length/64-bit-msb", ErrLength,
			maskedHeader(finBit|byte(ws.OpBinary), len64, 1<<63), maskedPayload("abc")),
		proto("close/length-1", ErrCloseLength, mf(ws.OpClose, fin, "\x03")),
		proto("close/fragmented-length-1", ErrCloseLength,
			mf(ws.OpText, more, "a"), mf(ws.OpClose, fin, "\x03"), mf(ws.OpContinuation, fin, "b")),
		{
			name: "client/masked", cfg: Config{Client: true},
			in:   cat(uf(ws.OpText, fin, "before"), mf(ws.OpText, fin, "x")),
			want: before, code: ws.StatusProtocolError, err: ErrMasked,
		},
		{
			name: "close/invalid-reason", in: cat(pre, mf(ws.OpClose, fin, closeBody(1000, "a\xff"))),
			want: before, code: ws.StatusInvalidFramePayloadData, err: ErrCloseReason,
		},
		tooBig("size/frame-over-max", Config{}, before, pre, mf(ws.OpText, fin, pattern(4097))),
		// Only the header and a few payload bytes: the limit is seen in the header.
		tooBig("size/header-over-max", Config{}, before,
			pre, maskedHeader(finBit|byte(ws.OpBinary), len16, 4097), maskedPayload("abc")),
		tooBig("size/header-64-bit", Config{}, before,
			pre, maskedHeader(finBit|byte(ws.OpBinary), len64, 1<<40), maskedPayload("abc")),
		tooBig("size/fragments-add-up", Config{}, []msg{ping("")},
			mf(ws.OpText, more, pattern(3000)), mf(ws.OpPing, fin, ""), mf(ws.OpContinuation, more, pattern(1000)),
			mf(ws.OpContinuation, fin, pattern(97))),
		tooBig("size/small-max", Config{MaxMessage: 8}, []msg{text("12345678")},
			mf(ws.OpText, fin, "12345678"), mf(ws.OpText, fin, "123456789")),
		// A control frame may carry 125 bytes whatever MaxMessage (RFC 6455 5.5).
		{name: "size/small-max-ping", cfg: Config{MaxMessage: 8},
			in: cat(mf(ws.OpPing, fin, "123456789"), mf(ws.OpPing, fin, pattern(125))), want: []msg{ping("123456789"), ping(pattern(125))}},
		tooBig("size/client-over-max", Config{Client: true}, nil, uf(ws.OpBinary, fin, pattern(5000))),
		badText("utf8/invalid-byte", before, pre, mf(ws.OpText, fin, "a\xffb")),
		badText("utf8/overlong-2", nil, mf(ws.OpText, fin, "\xC0\xAF")),
		badText("utf8/overlong-3", nil, mf(ws.OpText, fin, "\xE0\x80\xAF")),
		badText("utf8/overlong-4", nil, mf(ws.OpText, fin, "\xF0\x80\x80\xAF")),
		badText("utf8/surrogate", nil, mf(ws.OpText, fin, "\xED\xA0\x80")),
		badText("utf8/surrogate-low", nil, mf(ws.OpText, fin, "ab\xED\xBF\xBF")),
		badText("utf8/over-10FFFF", nil, mf(ws.OpText, fin, "\xF4\x90\x80\x80")),
		badText("utf8/lead-F5", nil, mf(ws.OpText, fin, "\xF5\x80\x80\x80")),
		badText("utf8/truncated", nil, mf(ws.OpText, fin, "a\xE2\x82")),
		badText("utf8/fragments-invalid", []msg{ping("")},
			mf(ws.OpText, more, "a\xE2"), mf(ws.OpPing, fin, ""), mf(ws.OpContinuation, fin, "\x28b")),
		badText("utf8/fragments-surrogate", nil,
			mf(ws.OpText, more, "\xED"), mf(ws.OpContinuation, more, "\xA0"), mf(ws.OpContinuation, fin, "\x80")),
		badText("utf8/fragments-overlong", nil,
			mf(ws.OpText, more, "ok \xE0"), mf(ws.OpContinuation, fin, "\x9F\xBF")),
		badText("utf8/fragments-truncated", nil,
			mf(ws.OpText, more, "a"), mf(ws.OpContinuation, fin, "\xF0\x9F\x91")),
		// A prefix that is certainly invalid fails before the message ends.
		badText("utf8/fragments-early", nil,
			mf(ws.OpText, more, "\xff"), mf(ws.OpContinuation, fin, pattern(5000))),
	}
	for _, op := range []ws.OpCode{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		vs = append(vs, proto(fmt.Sprintf("opcode/%#x", byte(op)), ErrReservedOpcode, mf(op, fin, "x")))
	}
	for _, code := range []ws.StatusCode{0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535} {
		vs = append(vs, proto(fmt.Sprintf("close/code=%d", code), ErrCloseCode, mf(ws.OpClose, fin, closeBody(code, ""))))
	}
	return vs
}
