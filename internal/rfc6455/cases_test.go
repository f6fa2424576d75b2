package rfc6455

import (
	"fmt"
	"strings"

	"github.com/gobwas/ws"

	"github.com/gpush/gpush/internal/server"
)

// serverKind is a server configuration cases run against; each variant
// runs one server of each kind, shared by the cases of that kind.
type serverKind struct {
	name  string
	tweak func(*server.Config)
}

var (
	defaultServer = &serverKind{name: "default"}
	bigFrames     = &serverKind{name: "max-frame=70000", tweak: func(c *server.Config) { c.Limits.MaxFrame = 70000 }}
)

// rfcCase is one compliance case: the bytes a client sends and what the
// server must do, in order. A case whose expected events do not end in a
// close frame then closes the connection itself: once those events have
// come, the runner sends a close 1000 and expects its echo (see finish), so
// every case checks that the connection is still in order at its end,
// without racing its close against the answers. Every case ends with the
// server closing the socket (evEnd).
type rfcCase struct {
	id     string // Autobahn-style number; its first part is the category
	name   string
	srv    *serverKind
	frames [][]byte
	want   []event
	// closeAt is the number of events after which the runner sends the
	// closing close frame; -1 when the case's own frames close.
	closeAt int
	// isolate runs the case in a child process of the test binary (see
	// playIsolated): for frames that have crashed a server process, which
	// would end the suite and its report.
	isolate bool
}

// categories names the Autobahn categories by number.
var categories = map[string]string{
	"1": "framing", "2": "pings/pongs", "3": "reserved bits", "4": "opcodes",
	"5": "fragmentation", "6": "UTF-8", "7": "close handling", "9": "limits",
}

func (c rfcCase) category() string { return categories[strings.SplitN(c.id, ".", 2)[0]] }

func (c rfcCase) title() string { return c.id + "-" + c.name }

// tc builds a case on the default server.
func tc(id, name string, fs [][]byte, want ...event) rfcCase {
	return rfcCase{id: id, name: name, srv: defaultServer, frames: fs, want: want}
}

// on moves c to the server kind k.
func (c rfcCase) on(k *serverKind) rfcCase { c.srv = k; return c }

// isolated marks c to run in a child process.
func (c rfcCase) isolated() rfcCase { c.isolate = true; return c }

// finish adds the closing handshake to a case that does not end in a
// close, and the socket's end to every case.
func (c rfcCase) finish() rfcCase {
	var want []event // consecutive pongs are one, as play records them
	for _, e := range c.want {
		want = addEvent(want, e, eventOp(e))
	}
	c.want = want
	c.closeAt = -1
	if n := len(c.want); n == 0 || !strings.HasPrefix(string(c.want[n-1]), "close") {
		c.closeAt = n
		c.want = append(c.want, closeEv(1000))
	}
	c.want = append(c.want, evEnd)
	return c
}

// closing is the close frame the runner sends at closeAt.
var closing = closeFrame(1000, "done")

// suite returns every case, finished.
func suite() []rfcCase {
	var all []rfcCase
	for _, part := range [][]rfcCase{
		framingCases(), pingCases(), reservedBitCases(), opcodeCases(),
		fragmentationCases(), utf8Cases(), closeCases(), limitCases(),
	} {
		for _, c := range part {
			all = append(all, c.finish())
		}
	}
	return all
}

// 1.x: text frames of every length encoding, against the default limit
// (4096) and a raised one.
func framingCases() []rfcCase {
	big := func(id string, n int, want event) rfcCase {
		return tc(id, fmt.Sprintf("text-%d", n), frames(text(padded(1, n))), want).on(bigFrames)
	}
	return []rfcCase{
		// An empty message is malformed JSON: a 400 reply that could not read a code.
		tc("1.1.1", "text-empty", frames(text("")), replyWith(0, -1, "", 400)),
		tc("1.1.2", "text-125", frames(text(padded(1, 125))), reply(1)),
		tc("1.1.3", "text-126", frames(text(padded(1, 126))), reply(1)),
		tc("1.1.4", "text-127", frames(text(padded(1, 127))), reply(1)),
		tc("1.1.5", "text-4096-at-limit", frames(text(padded(1, 4096))), reply(1)),
		tc("1.1.6", "text-4097-over-limit", frames(text(padded(1, 4097))), closeEv(1009)),
		tc("1.1.7", "text-65535", frames(text(padded(1, 65535))), closeEv(1009)),
		tc("1.1.8", "text-65536-64bit-length", frames(text(padded(1, 65536))), closeEv(1009)),
		tc("1.1.9", "text-ping", frames(text("ping")), textEv("pong")),
		tc("1.1.10", "text-ping-any-case", frames(text("PiNG")), textEv("pong")),
		tc("1.1.11", "three-requests-one-stream", frames(text(req(1)), text(req(2)), text(req(3))),
			reply(1), reply(2), reply(3)),
		big("1.2.1", 126, reply(1)),
		big("1.2.2", 65535, reply(1)),
		big("1.2.3", 65536, reply(1)),
		big("1.2.4", 70000, reply(1)),
		big("1.2.5", 70001, closeEv(1009)),
	}
}

// 2.x: ping and pong control frames.
func pingCases() []rfcCase {
	bin := "\x00\x01\xfe\xff\x80\xc0binary"
	p125 := strings.Repeat("p", 125)
	var ten [][]byte
	for i := range 10 {
		ten = append(ten, ping(fmt.Sprint("ping-", i)))
	}
	return []rfcCase{
		tc("2.1", "ping-empty", frames(ping("")), pongEv("")),
		tc("2.2", "ping-text-payload", frames(ping("hello")), pongEv("hello")),
		tc("2.3", "ping-binary-payload", frames(ping(bin)), pongEv(bin)),
		tc("2.4", "ping-125", frames(ping(p125)), pongEv(p125)),
		tc("2.5", "ping-126", frames(ping(p125+"p")), closeEv(1002)),
		// Pongs for pings read together may be one, for the latest (RFC 6455
		// 5.5.3): the runner keeps the last of consecutive pongs.
		tc("2.6", "ten-pings", frames(ten), pongEv("ping-9")),
		tc("2.7", "unsolicited-pong-ignored", frames(pong("unsolicited"), text(req(1))), reply(1)),
		tc("2.8", "unsolicited-pong-125-ignored", frames(pong(p125), text(req(1))), reply(1)),
		tc("2.9", "ping-between-fragments", frames(frame(ws.OpText, false, req(1)[:10]), ping("mid"),
			frame(ws.OpContinuation, true, req(1)[10:])), pongEv("mid"), reply(1)),
		tc("2.10", "ping-request-ping-in-order", frames(ping("a"), text(req(1)), ping("b")),
			pongEv("a"), reply(1), pongEv("b")),
	}
}

// 3.x: reserved bits, which no extension was negotiated for.
func reservedBitCases() []rfcCase {
	bits := []struct {
		name string
		b    byte
	}{{"rsv1", rsv1}, {"rsv2", rsv2}, {"rsv3", rsv3}}
	var out []rfcCase
	n := 0
	add := func(name string, fs [][]byte, want ...event) {
		n++
		out = append(out, tc(fmt.Sprintf("3.%d", n), name, fs, want...))
	}
	for _, b := range bits {
		add(b.name+"-text", frames(withBits(b.b, text(req(1)))), closeEv(1002))
	}
	add("rsv123-text", frames(withBits(rsv1|rsv2|rsv3, text(req(1)))), closeEv(1002))
	for _, b := range bits {
		add(b.name+"-ping", frames(withBits(b.b, ping("x"))), closeEv(1002))
	}
	for _, b := range bits {
		add(b.name+"-close", frames(withBits(b.b, closeFrame(1000, ""))), closeEv(1002))
	}
	add("rsv2-after-request", frames(text(req(1)), withBits(rsv2, text(req(2))), ping("x")), reply(1), closeEv(1002))
	add("rsv1-continuation", frames(frame(ws.OpText, false, req(1)[:5]),
		withBits(rsv1, frame(ws.OpContinuation, true, req(1)[5:]))), closeEv(1002))
	return out
}

// 4.x: reserved opcodes, non-control (3-7) and control (11-15), alone and
// after a valid request, followed by a ping that must not be answered.
func opcodeCases() []rfcCase {
	var out []rfcCase
	for i, ops := range [][]ws.OpCode{{3, 4, 5, 6, 7}, {11, 12, 13, 14, 15}} {
		for j, op := range ops {
			out = append(out,
				tc(fmt.Sprintf("4.%d.%d", i+1, j+1), fmt.Sprintf("opcode-%d", op),
					frames(frame(op, true, "")), closeEv(1002)),
				tc(fmt.Sprintf("4.%d.%d", i+1, j+6), fmt.Sprintf("opcode-%d-after-request", op),
					frames(text(req(1)), frame(op, true, "reserved"), ping("x")), reply(1), closeEv(1002)))
		}
	}
	return out
}

// 5.x: fragmented messages and control frames between fragments.
func fragmentationCases() []rfcCase {
	r := req(1)
	mid := len(r) / 2
	open := frame(ws.OpText, false, r[:mid]) // a message left open
	return []rfcCase{
		tc("5.1", "text-2-fragments", fragments(ws.OpText, r, mid), reply(1)),
		tc("5.2", "text-1-byte-fragments", fragments(ws.OpText, r, everyByte(len(r))...), reply(1)),
		tc("5.3", "empty-fragments", frames(frame(ws.OpText, false, ""), frame(ws.OpContinuation, false, r),
			frame(ws.OpContinuation, true, "")), reply(1)),
		tc("5.4", "pings-between-fragments", frames(frame(ws.OpText, false, r[:5]), ping("a"),
			frame(ws.OpContinuation, false, r[5:mid]), ping("b"), frame(ws.OpContinuation, true, r[mid:])),
			pongEv("a"), pongEv("b"), reply(1)),
		tc("5.5", "pong-between-fragments", frames(open, pong("x"), frame(ws.OpContinuation, true, r[mid:])), reply(1)),
		tc("5.6", "continuation-nothing-open", frames(frame(ws.OpContinuation, true, r)), closeEv(1002)),
		tc("5.7", "continuation-nonfinal-nothing-open", frames(frame(ws.OpContinuation, false, r)), closeEv(1002)),
		tc("5.8", "continuation-after-message", frames(text(req(1)), frame(ws.OpContinuation, true, req(2))),
			reply(1), closeEv(1002)),
		tc("5.9", "text-while-fragmented", frames(open, text(req(2))), closeEv(1002)),
		tc("5.10", "binary-while-fragmented", frames(open, binaryFrame("b")), closeEv(1002)),
		tc("5.11", "fragmented-ping", frames(frame(ws.OpPing, false, "pi"), frame(ws.OpContinuation, true, "ng")), closeEv(1002)),
		tc("5.12", "fragmented-pong", frames(frame(ws.OpPong, false, "po"), frame(ws.OpContinuation, true, "ng")), closeEv(1002)),
		tc("5.13", "fragmented-close", frames(frame(ws.OpClose, false, "\x03"), frame(ws.OpContinuation, true, "\xe8")), closeEv(1002)),
		tc("5.14", "fragments-over-limit", fragments(ws.OpText, padded(1, 4500), 1500, 3000), closeEv(1009)),
		tc("5.15", "fragments-at-limit", fragments(ws.OpText, padded(1, 4096), 1024, 2048, 3072), reply(1)),
		tc("5.16", "fragmented-ping-text", fragments(ws.OpText, "ping", 1, 3), textEv("pong")),
		tc("5.17", "two-fragmented-messages", frames(fragments(ws.OpText, req(1), 7), fragments(ws.OpText, req(2), 20)),
			reply(1), reply(2)),
		tc("5.18", "fragmented-binary", fragments(ws.OpBinary, "binary", 3), closeEv(1003)),
		tc("5.19", "close-between-fragments", frames(open, closeFrame(1000, ""), frame(ws.OpContinuation, true, r[mid:])),
			closeEv(1000)),
	}
}

// 6.x: UTF-8 in text messages: valid multi-byte text is handled (a topic
// of such characters is refused by the topic rules with a 400 reply, not
// a close), invalid sequences close with 1007 however they are cut.
func utf8Cases() []rfcCase {
	invalid := []struct{ name, seq string }{
		{"overlong-2", "\xc0\xaf"},
		{"overlong-3", "\xe0\x80\xaf"},
		{"overlong-4", "\xf0\x80\x80\xaf"},
		{"overlong-nul", "\xc0\x80"},
		{"surrogate-high", "\xed\xa0\x80"},
		{"surrogate-low", "\xed\xbf\xbf"},
		{"surrogate-pair", "\xed\xa0\xbd\xed\xb8\x80"},
		{"f5-lead", "\xf5\x80\x80\x80"},
		{"over-10ffff", "\xf4\x90\x80\x80"},
		{"5-byte-form", "\xf8\x88\x80\x80\x80"},
		{"fe", "\xfe"},
		{"ff", "\xff"},
		{"lone-continuation", "\x80"},
		{"2-byte-cut-short", "\xce("},
	}
	out := []rfcCase{
		tc("6.1.1", "multibyte-topic", frames(text(reqTopic(1, "κόσμε"))), replyWith(1, 1, "κόσμε", 400)),
		tc("6.1.2", "4-byte-topic", frames(text(reqTopic(1, "😀"))), replyWith(1, 1, "😀", 400)),
		tc("6.1.3", "multibyte-data", frames(text(reqData(1, "κόσμε € 😀"))), reply(1)),
	}
	for i, s := range invalid {
		out = append(out, tc(fmt.Sprintf("6.2.%d", i+1), s.name, frames(text(reqTopic(1, "a"+s.seq+"b"))), closeEv(1007)))
	}
	// A message cut short at its end: a valid request, then the start of a character.
	for i, tail := range []string{"\xce", "\xe2\x82", "\xf0\x9f\x98"} {
		out = append(out, tc(fmt.Sprintf("6.3.%d", i+1), fmt.Sprintf("truncated-%d-byte-at-end", len(tail)+1),
			frames(text(req(1)+tail)), closeEv(1007)))
	}
	pre := `{"code":1,"topic":"t","data":"`
	post := `","id":1}`
	split := func(id, name, chars string, cuts ...int) rfcCase {
		abs := make([]int, len(cuts))
		for i, c := range cuts {
			abs[i] = len(pre) + c
		}
		return tc(id, name, fragments(ws.OpText, pre+chars+post, abs...), reply(1))
	}
	bad := func(id, name, payload string, cuts ...int) rfcCase {
		return tc(id, name, fragments(ws.OpText, payload, cuts...), closeEv(1007))
	}
	p := len(pre)
	return append(out,
		bad("6.4.1", "surrogate-split", pre+"\xed\xa0\x80"+post, p+1),
		bad("6.4.2", "bad-continuation-after-split", pre+"\xf0\x9f("+post, p+2),
		bad("6.4.3", "truncated-at-end-of-last-fragment", req(1)+"\xf0\x9f\x98", len(req(1))+1),
		bad("6.4.4", "invalid-in-1-byte-fragments", pre+"\xed\xa0\x80"+post, everyByte(len(pre)+3+len(post))...),
		split("6.5.1", "4-byte-split-at-1", "😀", 1),
		split("6.5.2", "4-byte-split-at-2", "😀", 2),
		split("6.5.3", "4-byte-split-at-3", "😀", 3),
		split("6.5.4", "4-byte-split-at-1-2-3", "😀", 1, 2, 3),
		split("6.5.5", "2-byte-split", "κ", 1),
		split("6.5.6", "3-byte-split-at-1", "€", 1),
		split("6.5.7", "3-byte-split-at-2", "€", 2),
	)
}

// 7.x: the closing handshake and close payloads.
func closeCases() []rfcCase {
	var ten [][]byte
	var tenReplies []event
	for i := range 10 {
		ten = append(ten, text(req(i)))
		tenReplies = append(tenReplies, reply(i))
	}
	out := []rfcCase{
		tc("7.1.1", "close-empty", frames(frame(ws.OpClose, true, "")), closeEv(0)),
		tc("7.1.2", "close-1000-reason", frames(closeFrame(1000, "bye")), closeEv(1000)),
		tc("7.1.3", "close-1000-123-byte-reason", frames(closeFrame(1000, strings.Repeat("r", 123))), closeEv(1000)),
		tc("7.1.4", "text-after-close-ignored", frames(closeFrame(1000, ""), text(req(1))), closeEv(1000)),
		tc("7.1.5", "ping-after-close-ignored", frames(closeFrame(1000, ""), ping("x")), closeEv(1000)),
		tc("7.1.6", "second-close-ignored", frames(closeFrame(1000, ""), closeFrame(1001, "")), closeEv(1000)),
		tc("7.1.7", "request-then-close", frames(text(req(1)), closeFrame(1000, "")), reply(1), closeEv(1000)),
		tc("7.1.8", "ping-then-close", frames(ping("x"), closeFrame(1000, "")), pongEv("x"), closeEv(1000)),
		tc("7.1.9", "ten-requests-then-close", frames(ten, closeFrame(1000, "")), append(tenReplies, closeEv(1000))...),
		tc("7.1.10", "close-1000-124-byte-reason", frames(closeFrame(1000, strings.Repeat("r", 124))), closeEv(1002)),
		tc("7.2.1", "close-1-byte-payload", frames(frame(ws.OpClose, true, "\x03")), closeEv(1002)),
		tc("7.5.1", "close-reason-invalid-utf8", frames(closeFrame(1000, "bye\xff")), closeEv(1007)),
		tc("7.5.2", "close-reason-surrogate", frames(closeFrame(1000, "\xed\xa0\x80")), closeEv(1007)),
	}
	for i, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		out = append(out, tc(fmt.Sprintf("7.3.%d", i+1), fmt.Sprintf("close-invalid-%d", code),
			frames(closeFrame(code, "")), closeEv(1002)))
	}
	for i, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999} {
		out = append(out, tc(fmt.Sprintf("7.4.%d", i+1), fmt.Sprintf("close-%d-echoed", code),
			frames(closeFrame(code, "")), closeEv(int(code))))
	}
	return out
}

// 9.x: masking, binary data and frame lengths.
func limitCases() []rfcCase {
	var twenty [][]byte
	var replies []event
	for i := range 20 {
		twenty = append(twenty, text(req(i)))
		replies = append(replies, reply(i))
	}
	return []rfcCase{
		tc("9.1.1", "unmasked-text", frames(unmasked(ws.OpText, req(1))), closeEv(1002)),
		tc("9.1.2", "unmasked-ping", frames(unmasked(ws.OpPing, "x")), closeEv(1002)),
		tc("9.1.3", "unmasked-close", frames(unmasked(ws.OpClose, "\x03\xe8")), closeEv(1002)),
		tc("9.1.4", "unmasked-after-request", frames(text(req(1)), unmasked(ws.OpText, req(2))), reply(1), closeEv(1002)),
		tc("9.2.1", "binary-empty", frames(binaryFrame("")), closeEv(1003)),
		tc("9.2.2", "binary", frames(binaryFrame(req(1))), closeEv(1003)),
		tc("9.2.3", "binary-between-requests", frames(text(req(1)), binaryFrame("b"), text(req(2))), reply(1), closeEv(1003)),
		// A length of 2^63 or more turns negative in an int: isolated, it has panicked a server.
		tc("9.3.1", "64-bit-length-msb-set", frames(header64(1<<63|5, "hello")), closeEv(1002)).isolated(),
		tc("9.3.2", "64-bit-length-4-GiB", frames(header64(1<<32, "hello")), closeEv(1009)),
		tc("9.3.3", "header-announces-1-MiB", frames(header64(1<<20, "")), closeEv(1009)),
		tc("9.4.1", "twenty-requests-pipelined", frames(twenty), replies...),
	}
}
