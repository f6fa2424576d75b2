//go:build linux

package poll

import (
	"errors"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrAgain: the operation would block; wait for the next edge.
var ErrAgain = unix.EAGAIN

// Detach takes the socket out of the Go runtime's poller: it duplicates the
// descriptor (non-blocking, close-on-exec) so the caller can close the
// net.Conn and own the raw fd.
func Detach(sc syscall.Conn) (int, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(orig uintptr) {
		fd, derr = unix.FcntlInt(orig, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// Read reads into b; n == 0 with a nil error means the peer closed.
func Read(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

// IOV is scratch space for Writev, reused by one writer at a time.
type IOV struct {
	vec []unix.Iovec
}

// Writev writes bufs with one writev(2) (one write(2) for a single buffer)
// and returns the bytes the socket accepted.
//
// The socket is non-blocking, so the call is a raw one: it does not tell
// the Go scheduler that a syscall is under way, which it never needs to
// know of a call that cannot block. The flushers write back to back; with
// Syscall, sysmon (which retakes the P of a thread that stays in a
// syscall) napped 20 us at a time and the threads switched twice as often:
// in a flood's CPU profile sysmon fell from 4% to 2% and the kernel's
// finish_task_switch from 9% to 4% with raw calls.
func Writev(fd int, bufs [][]byte, iov *IOV) (int, error) {
	if len(bufs) == 1 {
		return write(fd, bufs[0])
	}
	iov.vec = iov.vec[:0]
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		v := unix.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		iov.vec = append(iov.vec, v)
	}
	if len(iov.vec) == 0 {
		return 0, nil
	}
	for {
		r, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov.vec[0])), uintptr(len(iov.vec)))
		if e == unix.EINTR {
			continue
		}
		clear(iov.vec) // drop the references to the frames
		if e != 0 {
			return 0, e
		}
		return int(r), nil
	}
}

// Write is write(2) of b, raw as Writev: it may write part of b, and
// returns ErrAgain when the socket is full.
func Write(fd int, b []byte) (int, error) { return write(fd, b) }

// write is write(2) of b, raw as Writev.
func write(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(r), nil
	}
}

// Shutdown shuts both directions of a socket; the event loop sees the
// hang-up and closes it.
func Shutdown(fd int) error { return unix.Shutdown(fd, unix.SHUT_RDWR) }

// ShutdownWrite shuts the sending side of a socket: the peer gets FIN after
// the bytes queued; reading goes on (a lingering close).
func ShutdownWrite(fd int) error { return unix.Shutdown(fd, unix.SHUT_WR) }

// Unacked reports whether the socket's send queue holds bytes (or a FIN)
// the peer has not acknowledged (SIOCOUTQ).
func Unacked(fd int) bool {
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	return err == nil && n > 0
}

// Close closes fd.
func Close(fd int) error { return unix.Close(fd) }
