//go:build linux

package epoll

import (
	"errors"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/variants/transport/epoll/poll"
)

// BenchmarkWriteFrames measures one write of many small frames (a batched
// flush of a flood: 34-byte frames) to a loopback TCP socket whose peer
// drains it, as writev over the frames (what conn.flush does) or as one
// copy into a buffer of our own and write (flatten). ns/frame is the
// writer's wall time per frame, the kernel's loopback delivery included.
//
// Measured on the 2-core machine (docs/results.md, hot path): the copy is
// 20-29% cheaper per frame here. Interleaved floods with it in conn.flush
// first showed no gain (median ratio 0.985 over 14 pairs), later, with
// raw write syscalls and on a more loaded machine, 0.925 (14 pairs), so
// conn.flush copies a write's frames up to flatMax (scratch.gather).
func BenchmarkWriteFrames(b *testing.B) {
	for _, frames := range []int{8, 40, 200} {
		for _, mode := range []string{"writev", "flat"} {
			b.Run("frames="+strconv.Itoa(frames)+"/mode="+mode, func(b *testing.B) {
				benchWriteFrames(b, frames, mode == "flat")
			})
		}
	}
}

func benchWriteFrames(b *testing.B, frames int, flat bool) {
	fd := loopbackFD(b)
	frame := core.AppendFrame(nil, core.OpcodeText, make([]byte, 32))
	bufs := make([][]byte, frames)
	for i := range bufs {
		bufs[i] = frame
	}
	var iov poll.IOV
	sc := new(scratch)
	b.ResetTimer()
	for range b.N {
		out := bufs
		if flat {
			out = sc.gather(bufs)
		}
		writeAll(b, fd, out, &iov)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
}

// writeAll writes bufs whole, waiting out a full socket.
func writeAll(b *testing.B, fd int, bufs [][]byte, iov *poll.IOV) {
	for len(bufs) > 0 {
		n, err := poll.Writev(fd, bufs, iov)
		if err != nil && !errors.Is(err, poll.ErrAgain) {
			b.Fatal(err)
		}
		for n > 0 {
			if n < len(bufs[0]) {
				bufs = append([][]byte{bufs[0][n:]}, bufs[1:]...)
				break
			}
			n -= len(bufs[0])
			bufs = bufs[1:]
		}
	}
}

// loopbackFD returns the raw descriptor of a loopback TCP connection whose
// peer reads and drops everything.
func loopbackFD(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	b.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c) //nolint:errcheck // ends when the writer closes
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(b, err)
	fd, err := poll.Detach(c.(*net.TCPConn))
	require.NoError(b, err)
	c.Close()
	b.Cleanup(func() { poll.Close(fd) })
	return fd
}
