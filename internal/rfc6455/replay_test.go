package rfc6455

import (
	"bytes"
	"net"
	"time"
)

// mode is one way of replaying a case's bytes: the pieces it cuts them
// into, written one write each, with pause between writes.
type mode struct {
	name   string
	pieces func(frames [][]byte) [][]byte
	pause  time.Duration
}

// modes: the whole stream in one write; one write per byte; three pieces
// 30 ms apart.
var modes = []mode{
	{"whole", whole, 0},
	{"bytes", bytewise, 0},
	{"paused", thirds, 30 * time.Millisecond},
}

// Byte by byte, frames up to bytewiseMax bytes go one byte per write;
// larger ones (under the race detector a 64 KiB frame byte by byte takes
// seconds) go their first bytewiseHead bytes, which hold the header and
// the start of the payload, one per write and the rest in bigPiece writes.
const (
	bytewiseMax  = 2 << 10
	bytewiseHead = 16
	bigPiece     = 1021 // odd, so the cuts move through the payload
)

func whole(frames [][]byte) [][]byte { return [][]byte{bytes.Join(frames, nil)} }

func bytewise(frames [][]byte) [][]byte {
	var out [][]byte
	for _, f := range frames {
		head := f
		if len(f) > bytewiseMax {
			head = f[:bytewiseHead]
		}
		for i := range head {
			out = append(out, head[i:i+1])
		}
		for rest := f[len(head):]; len(rest) > 0; {
			n := min(bigPiece, len(rest))
			out = append(out, rest[:n])
			rest = rest[n:]
		}
	}
	return out
}

// thirds cuts the stream at a third and two thirds of its length, wherever
// that falls: inside a header, a mask key or a payload.
func thirds(frames [][]byte) [][]byte {
	b := bytes.Join(frames, nil)
	var out [][]byte
	for i, start := 1, 0; i <= 3; i++ {
		end := len(b) * i / 3
		if end > start {
			out = append(out, b[start:end])
			start = end
		}
	}
	return out
}

// send writes the pieces of frames to nc until done, a write fails (the
// server may close the socket before it has read everything), or stop is
// closed.
func (m mode) send(nc net.Conn, frames [][]byte, stop <-chan struct{}) {
	nc.SetWriteDeadline(time.Now().Add(readTimeout))
	for i, p := range m.pieces(frames) {
		if !m.wait(i > 0 && m.pause > 0, stop) {
			return
		}
		if _, err := nc.Write(p); err != nil {
			return
		}
	}
}

// wait sleeps the pause when pause is set, and reports false when stop is
// closed first.
func (m mode) wait(pause bool, stop <-chan struct{}) bool {
	if !pause {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	select {
	case <-stop:
		return false
	case <-time.After(m.pause):
		return true
	}
}
