package nbio

import "encoding/binary"

// maskCheck follows the frame boundaries of a client's byte stream to see
// every frame header's mask bit, which nbio 1.6.8 never checks (RFC 6455
// 5.1: a server must close the connection on an unmasked client frame).
// It resumes at any byte: a header split across reads is collected into
// head, a payload is skipped by count. It copies no payload.
type maskCheck struct {
	skip uint64   // payload bytes of the current frame still to come
	head [14]byte // a header being collected
	n    int      // bytes of it collected
}

// feed consumes b and reports false at the first unmasked frame.
func (m *maskCheck) feed(b []byte) bool {
	for len(b) > 0 {
		if m.skip > 0 {
			k := min(uint64(len(b)), m.skip)
			m.skip -= k
			b = b[k:]
			continue
		}
		m.head[m.n] = b[0]
		m.n++
		b = b[1:]
		if m.n < 2 {
			continue
		}
		if m.head[1]&0x80 == 0 {
			return false
		}
		size := 2 + 4
		switch m.head[1] & 0x7f {
		case 126:
			size += 2
		case 127:
			size += 8
		}
		if m.n < size {
			continue
		}
		switch m.head[1] & 0x7f {
		case 126:
			m.skip = uint64(binary.BigEndian.Uint16(m.head[2:]))
		case 127:
			m.skip = binary.BigEndian.Uint64(m.head[2:])
		default:
			m.skip = uint64(m.head[1] & 0x7f)
		}
		m.n = 0
	}
	return true
}
