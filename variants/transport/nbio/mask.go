package nbio

import "github.com/gpush/gpush/core/wsframe"

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
		if m.n < wsframe.HeaderLen(m.head[1]) {
			continue
		}
		m.skip = wsframe.PayloadLen(m.head[:m.n])
		m.n = 0
	}
	return true
}
