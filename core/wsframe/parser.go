package wsframe

import (
	"encoding/binary"
	"math"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// DefaultMaxMessage is the frame and message size limit of a zero Config.
const DefaultMaxMessage = 4096

// maxHeader is the longest frame header: 2 bytes, a 64-bit length, a mask key.
const maxHeader = 2 + 8 + 4

// Config is the per-connection configuration of a Parser. The zero value
// is a server-side parser with DefaultMaxMessage.
type Config struct {
	// MaxMessage is the largest data frame payload and the largest
	// assembled message, in bytes; over it Feed returns ErrTooBig (close
	// 1009) as soon as a frame header says so. 0 or less means
	// DefaultMaxMessage. Control frames may always carry
	// MaxControlPayload bytes. Above math.MaxInt32 it is math.MaxInt32.
	MaxMessage int
	// Client selects the client side: frames come from a server and must
	// not be masked (ErrMasked). When false, frames come from a client and
	// must be masked (ErrUnmasked).
	Client bool
}

// Handler receives each complete data message (ws.OpText or ws.OpBinary,
// continuation frames already joined) and each control frame (ws.OpPing,
// ws.OpPong, ws.OpClose; a close payload has been checked, ParseClose reads
// it). payload is valid only during the call and may be written to. A
// non-nil error stops Feed, which returns it. Frames after a close frame
// are parsed like any other: to stop there, return an error. A Handler
// must not call Feed on the same Parser.
type Handler func(op ws.OpCode, payload []byte) error

// Parser is the incremental frame parser and message assembler of one
// connection. The zero value is ready to use with the zero Config; Reset
// sets another. A Parser is not safe for concurrent use.
//
// State machine. state and the counters say where the next byte belongs:
//
//	stHeader, nhdr == 0   at a frame boundary. With no buffer held (acc ==
//	                      nil, Buffered() == 0) the connection is idle.
//	stHeader, nhdr > 0    inside a header; its first nhdr bytes are in hdr.
//	                      Checks run as soon as their bytes are in: at 2
//	                      bytes the flags, opcode, mask bit and control
//	                      length (checkStart), at the end of the extended
//	                      length the size limits (checkLength), at the end
//	                      of the mask key the frame begins (begin).
//	stPayload             pos of the current frame's length payload bytes
//	                      consumed. A frame whose payload is all in one
//	                      Feed, and which is a control frame or an
//	                      unfragmented data message, is unmasked in place
//	                      and delivered from b. Otherwise each piece is
//	                      unmasked, checked (UTF-8 of a text message) and
//	                      appended to acc, after the msgLen bytes of the
//	                      open message; the last piece delivers the control
//	                      frame, or the message on a final frame.
//	stFailed              an error was returned; Feed returns ErrFailed.
//	stPooled              a parked state's Parser waiting in its pool.
//
// A header in the read buffer whole is decoded from it directly, running
// the same checks in the same order, so the result never depends on how
// the stream was cut.
type Parser struct {
	acc *[]byte // pooled buffer of the incomplete frame or message; nil when none
	// Lengths are 32-bit: a frame or message beyond the limit, which is
	// below 2 GiB, is refused before its length is stored, and a Parser is
	// kept per connection.
	max    int32 // Config.MaxMessage, at most math.MaxInt32
	length int32 // payload length of the current frame
	pos    int32 // payload bytes of the current frame consumed
	msgLen int32 // bytes of the open data message held in acc

	mask  [4]byte         // mask key of the current frame
	hdr   [maxHeader]byte // header bytes received so far
	nhdr  uint8           // number of bytes in hdr
	state uint8
	op    ws.OpCode // opcode of the current frame
	msgOp ws.OpCode // OpText or OpBinary while a data message is in progress, else 0
	utf8  uint8     // UTF-8 state of the text message in progress
	fin   bool      // FIN of the current frame
	cli   bool      // Config.Client
}

// Parser states; see Parser.
const (
	stHeader uint8 = iota
	stPayload
	stFailed
	stPooled // a parked state's Parser back in its pool (Parked.drop)
)

// Reset drops any partial frame or message, gives its buffer back to the
// pool and configures the Parser with c. Call it when a connection closes
// in the middle of a message so its buffer is reused.
func (p *Parser) Reset(c Config) {
	p.release()
	p.max = int32(min(max(c.MaxMessage, 0), math.MaxInt32)) // 0: the default
	p.cli = c.Client
	p.boundary()
}

// boundary puts p at a frame boundary with nothing held, keeping its
// Config; a buffer p held must have been released or handed on.
func (p *Parser) boundary() { *p = Parser{max: p.max, cli: p.cli} }

// Buffered reports the payload bytes held for an incomplete frame or
// message: 0 when idle. The bytes of a data message never pass MaxMessage;
// a control frame cut while a fragmented message is open adds at most
// MaxControlPayload more.
func (p *Parser) Buffered() int {
	if p.acc == nil {
		return 0
	}
	return len(*p.acc)
}

// Feed consumes all of b, the bytes just read from the connection, and
// calls h for every message and control frame completed by them, in order.
// It may unmask b in place, and keeps no reference to b after it returns.
// It returns the first error, leaving the rest of b unparsed: a *CloseError
// for a protocol violation (errors.As gives the close code to send), or the
// error h returned. After an error the Parser must not be fed again: it
// has released its buffer and further calls return ErrFailed.
func (p *Parser) Feed(b []byte, h Handler) error {
	if p.state == stFailed {
		return ErrFailed
	}
	for {
		var n int
		var err error
		switch {
		case p.state == stPayload:
			n, err = p.readPayload(b, h)
		case len(b) == 0:
			return nil
		default:
			n, err = p.readHeader(b)
		}
		b = b[n:]
		if err != nil {
			p.fail()
			return err
		}
		if p.state == stPayload && len(b) == 0 && p.pos < p.length {
			return nil
		}
	}
}

// readHeader consumes header bytes from b.
func (p *Parser) readHeader(b []byte) (int, error) {
	if p.nhdr == 0 && len(b) >= 2 {
		if n := HeaderLen(b[1]); len(b) >= n {
			return n, p.decode(b[:n])
		}
	}
	return p.collect(b)
}

// decode checks and begins the frame whose whole header is h.
func (p *Parser) decode(h []byte) error {
	if err := p.checkStart(h[0], h[1]); err != nil {
		return err
	}
	if err := p.checkLength(h); err != nil {
		return err
	}
	p.begin(h)
	return nil
}

// collect copies header bytes from b into hdr, stopping at each point where
// a check can run: 2 bytes, the end of the length, the end of the header.
func (p *Parser) collect(b []byte) (int, error) {
	n := 0
	for p.state == stHeader {
		goal := p.goal()
		k := copy(p.hdr[p.nhdr:goal], b[n:])
		p.nhdr += uint8(k)
		n += k
		if int(p.nhdr) < goal {
			return n, nil
		}
		if err := p.reached(goal); err != nil {
			return n, err
		}
	}
	return n, nil
}

// goal is the number of header bytes at which the next check runs.
func (p *Parser) goal() int {
	if p.nhdr < 2 {
		return 2
	}
	if end := lengthEnd(p.hdr[1]); int(p.nhdr) < end {
		return end
	}
	return HeaderLen(p.hdr[1])
}

// reached runs the checks due when hdr holds n bytes.
func (p *Parser) reached(n int) error {
	h := p.hdr[:n]
	if n == 2 {
		if err := p.checkStart(h[0], h[1]); err != nil {
			return err
		}
	}
	if n == lengthEnd(h[1]) {
		if err := p.checkLength(h); err != nil {
			return err
		}
	}
	if n == HeaderLen(h[1]) {
		p.begin(h)
	}
	return nil
}

// checkStart checks the first two header bytes against the protocol and
// against the message in progress.
func (p *Parser) checkStart(b0, b1 byte) error {
	op := ws.OpCode(b0 & opBits)
	masked := b1&maskBit != 0
	switch {
	case b0&rsvBits != 0:
		return ErrReservedBits
	case op.IsReserved():
		return ErrReservedOpcode
	case op.IsControl() && b0&finBit == 0:
		return ErrControlFragmented
	case op.IsControl() && b1&lenBits > MaxControlPayload:
		return ErrControlTooLong
	case op == ws.OpContinuation && p.msgOp == 0:
		return ErrContinuation
	case op != ws.OpContinuation && op.IsData() && p.msgOp != 0:
		return ErrMessageOpen
	case masked && p.cli:
		return ErrMasked
	case !masked && !p.cli:
		return ErrUnmasked
	}
	return nil
}

// checkLength checks the payload length in header h (complete up to the
// end of the length) against the encoding and the size limit.
func (p *Parser) checkLength(h []byte) error {
	n := PayloadLen(h)
	if n>>63 != 0 {
		return ErrLength
	}
	op := ws.OpCode(h[0] & opBits)
	if op.IsControl() { // at most MaxControlPayload (checkStart), whatever MaxMessage: RFC 6455 allows 125
		return nil
	}
	if op.IsData() {
		n += uint64(p.msgLen) // no overflow: n < 2^63 and msgLen <= MaxMessage
	}
	if n > uint64(p.limit()) {
		return ErrTooBig
	}
	return nil
}

// begin starts the payload of the frame with the checked header h.
func (p *Parser) begin(h []byte) {
	p.op = ws.OpCode(h[0] & opBits)
	p.fin = h[0]&finBit != 0
	if h[1]&maskBit != 0 {
		copy(p.mask[:], h[len(h)-4:])
	}
	p.length = int32(PayloadLen(h)) // checkLength bounded it by limit() or MaxControlPayload
	p.pos = 0
	p.nhdr = 0
	p.state = stPayload
	if p.op == ws.OpText || p.op == ws.OpBinary {
		p.msgOp = p.op
		p.utf8 = utf8Accept
	}
}

// readPayload consumes payload bytes of the current frame from b, possibly
// none, and completes the frame when its last byte is in.
func (p *Parser) readPayload(b []byte, h Handler) (int, error) {
	n := min(int(p.length-p.pos), len(b))
	chunk := b[:n]
	if !p.cli && n > 0 {
		ws.Cipher(chunk, p.mask, int(p.pos))
	}
	if p.pos == 0 && n == int(p.length) && p.single() {
		p.state = stHeader
		return n, p.deliver(chunk, h)
	}
	p.pos += int32(n)
	if err := p.hold(chunk); err != nil {
		return n, err
	}
	if p.pos < p.length {
		return n, nil
	}
	p.state = stHeader
	if p.op.IsControl() {
		return n, p.completeControl(h)
	}
	return n, p.completeData(h)
}

// single reports whether the current frame is delivered on its own: a
// control frame or an unfragmented data message.
func (p *Parser) single() bool {
	return p.op.IsControl() || (p.fin && p.op != ws.OpContinuation)
}

// deliver checks and delivers a single frame whose payload is all in the
// read buffer, without copying it.
func (p *Parser) deliver(payload []byte, h Handler) error {
	switch p.op {
	case ws.OpText:
		if !utf8.Valid(payload) {
			return ErrInvalidUTF8
		}
	case ws.OpClose:
		if err := checkClose(payload); err != nil {
			return err
		}
	}
	if p.op.IsData() {
		p.msgOp = 0
	}
	return h(p.op, payload)
}

// hold appends chunk, the next payload bytes of the current frame, to acc,
// checking the UTF-8 of a text message on the way.
func (p *Parser) hold(chunk []byte) error {
	if len(chunk) == 0 {
		return nil
	}
	if p.op.IsData() && p.msgOp == ws.OpText {
		p.utf8 = utf8Continue(p.utf8, chunk)
		if p.utf8 == utf8Reject {
			return ErrInvalidUTF8
		}
	}
	p.reserve(len(chunk))
	*p.acc = append(*p.acc, chunk...)
	return nil
}

// reserve makes room for n more bytes in acc, taking a buffer from the
// pool, or a larger one when acc is full.
func (p *Parser) reserve(n int) {
	if p.acc == nil {
		p.acc = getBuf(n)
		gauge.buffers.Add(1)
		return
	}
	need := len(*p.acc) + n
	if need <= cap(*p.acc) {
		return
	}
	b := getBuf(need)
	*b = append(*b, *p.acc...)
	putBuf(p.acc)
	p.acc = b
}

// completeControl delivers a control frame that was held in acc after the
// open message, then drops it from acc.
func (p *Parser) completeControl(h Handler) error {
	payload := p.held()[p.msgLen:]
	if p.op == ws.OpClose {
		if err := checkClose(payload); err != nil {
			return err
		}
	}
	err := h(p.op, payload)
	if p.msgLen == 0 {
		p.release()
	} else {
		*p.acc = (*p.acc)[:p.msgLen]
	}
	return err
}

// completeData ends a data frame held in acc and, on the final frame,
// delivers the message and releases acc.
func (p *Parser) completeData(h Handler) error {
	p.msgLen += p.length
	if !p.fin {
		return nil
	}
	op := p.msgOp
	p.msgOp = 0
	if op == ws.OpText && p.utf8 != utf8Accept {
		return ErrInvalidUTF8
	}
	err := h(op, p.held())
	p.release()
	return err
}

// held is the content of acc.
func (p *Parser) held() []byte {
	if p.acc == nil {
		return nil
	}
	return *p.acc
}

// release gives acc back to the pool.
func (p *Parser) release() {
	if p.acc != nil {
		putBuf(p.acc)
		p.acc = nil
		gauge.buffers.Add(-1)
	}
	p.msgLen = 0
}

func (p *Parser) fail() {
	p.release()
	p.state = stFailed
}

func (p *Parser) limit() int {
	if p.max > 0 {
		return int(p.max)
	}
	return DefaultMaxMessage
}

// lengthEnd is the header length up to the end of the payload length, from
// the second header byte.
func lengthEnd(b1 byte) int {
	switch b1 & lenBits {
	case len16:
		return 4
	case len64:
		return 10
	}
	return 2
}

// HeaderLen is a frame header's whole length, from its second byte (the
// mask bit and the length code).
func HeaderLen(b1 byte) int {
	if b1&maskBit != 0 {
		return lengthEnd(b1) + 4
	}
	return lengthEnd(b1)
}

// PayloadLen reads the payload length of a complete header h.
func PayloadLen(h []byte) uint64 {
	switch n := h[1] & lenBits; n {
	case len16:
		return uint64(binary.BigEndian.Uint16(h[2:]))
	case len64:
		return binary.BigEndian.Uint64(h[2:])
	default:
		return uint64(n)
	}
}
