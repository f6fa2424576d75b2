package wsframe

import (
	"bufio"
	"errors"
	"io"

	"github.com/gobwas/ws"
)

// The Parser checks and assembles what a peer sends. Cut and Reader only
// split a stream into whole frames, for clients that read what a server
// wrote and judge it themselves: test clients and load generators.

// ParseHeader decodes a complete frame header h, HeaderLen(h[1]) bytes.
func ParseHeader(h []byte) ws.Header {
	hd := ws.Header{
		Fin:    h[0]&finBit != 0,
		Rsv:    (h[0] & rsvBits) >> 4,
		OpCode: ws.OpCode(h[0] & opBits),
		Masked: h[1]&maskBit != 0,
		Length: int64(PayloadLen(h)),
	}
	if hd.Masked {
		copy(hd.Mask[:], h[len(h)-4:])
	}
	return hd
}

// Cut splits the first whole frame off b: its header, its payload (a
// masked one unmasked in place) and the bytes the frame spans. n is 0 when
// b does not hold a whole frame yet.
func Cut(b []byte) (h ws.Header, payload []byte, n int) {
	if len(b) < 2 || len(b) < HeaderLen(b[1]) {
		return ws.Header{}, nil, 0
	}
	hl := HeaderLen(b[1])
	if PayloadLen(b) > uint64(len(b)-hl) {
		return ws.Header{}, nil, 0
	}
	h = ParseHeader(b[:hl])
	n = hl + int(h.Length)
	return h, unmask(h, b[hl:n]), n
}

func unmask(h ws.Header, p []byte) []byte {
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return p
}

// Reader reads whole frames from a buffered stream. The zero Max means
// DefaultMaxMessage.
type Reader struct {
	R   *bufio.Reader
	Max int    // largest payload accepted; a longer frame is ErrTooBig
	big []byte // payloads that do not fit in R's buffer
}

// Next reads the next frame: its header and its payload (unmasked), valid
// until the next call. A frame that fits in R's buffer is consumed only
// once whole, so an error such as a passed read deadline leaves the stream
// at the frame's start. A stream that ends inside a frame is
// io.ErrUnexpectedEOF.
func (r *Reader) Next() (h ws.Header, payload []byte, err error) {
	defer func() {
		if errors.Is(err, io.EOF) && r.R.Buffered() > 0 {
			err = io.ErrUnexpectedEOF
		}
	}()
	hl, err := r.header()
	if err != nil {
		return ws.Header{}, nil, err
	}
	b, _ := r.R.Peek(hl)
	h = ParseHeader(b)
	if total := hl + int(h.Length); total <= r.R.Size() {
		b, err = r.R.Peek(total)
		if err != nil {
			return h, nil, err
		}
		_, _ = r.R.Discard(total)
		return h, unmask(h, b[hl:]), nil
	}
	p, err := r.bigPayload(hl, int(h.Length))
	return h, unmask(h, p), err
}

// header peeks at the next frame's header, checks its length against Max
// and returns the header's length.
func (r *Reader) header() (int, error) {
	b, err := r.R.Peek(2)
	if err != nil {
		return 0, err
	}
	hl := HeaderLen(b[1])
	if b, err = r.R.Peek(hl); err != nil {
		return 0, err
	}
	if PayloadLen(b) > uint64(r.limit()) {
		return 0, ErrTooBig
	}
	return hl, nil
}

// bigPayload reads a payload of n bytes that does not fit in R's buffer,
// after the header of hl bytes.
func (r *Reader) bigPayload(hl, n int) ([]byte, error) {
	_, _ = r.R.Discard(hl)
	if cap(r.big) < n {
		r.big = make([]byte, n)
	}
	r.big = r.big[:n]
	if _, err := io.ReadFull(r.R, r.big); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the header was there
		}
		return nil, err
	}
	return r.big, nil
}

func (r *Reader) limit() int {
	if r.Max > 0 {
		return r.Max
	}
	return DefaultMaxMessage
}
