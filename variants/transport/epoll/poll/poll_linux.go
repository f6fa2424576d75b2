//go:build linux

package poll

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Poller is an edge-triggered epoll instance. Each descriptor is added once
// with read, write and hang-up interest: edges, not levels, so the loop
// never calls epoll_ctl again for that descriptor.
type Poller struct {
	epfd int
	wake int // eventfd that interrupts Wait
	evs  []unix.EpollEvent
}

// wakeKey is the key of the wake eventfd; connection keys never use it.
const wakeKey = ^uint64(0)

// New creates a poller able to report up to batch events per Wait.
func New(batch int) (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	p := &Poller{epfd: epfd, wake: wake, evs: make([]unix.EpollEvent, batch)}
	if err := p.ctl(unix.EPOLL_CTL_ADD, wake, unix.EPOLLIN, wakeKey); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Poller) ctl(op, fd int, events uint32, key uint64) error {
	ev := unix.EpollEvent{Events: events}
	setKey(&ev, key)
	return unix.EpollCtl(p.epfd, op, fd, &ev)
}

// setKey stores a 64-bit key in the event's data (the Fd and Pad fields of
// x/sys's EpollEvent are the kernel's 8-byte epoll_data).
func setKey(ev *unix.EpollEvent, key uint64) {
	binary.NativeEndian.PutUint64((*[8]byte)(unsafe.Pointer(&ev.Fd))[:], key)
}

func getKey(ev *unix.EpollEvent) uint64 {
	return binary.NativeEndian.Uint64((*[8]byte)(unsafe.Pointer(&ev.Fd))[:])
}

// Add watches fd, reporting its events under key.
func (p *Poller) Add(fd int, key uint64) error {
	return p.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET, key)
}

// Mod reports fd's events under key from now on. Like Add, it reports the
// readiness fd already has (epoll_ctl(2) re-arms the edge).
func (p *Poller) Mod(fd int, key uint64) error {
	return p.ctl(unix.EPOLL_CTL_MOD, fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET, key)
}

// Del stops watching fd. Closing fd does that too.
func (p *Poller) Del(fd int) error {
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

// Wait blocks until events arrive, Wake is called, or msec passes (-1:
// forever), and appends the events to dst. woken says Wake was called.
func (p *Poller) Wait(dst []Event, msec int) (_ []Event, woken bool, err error) {
	n, err := unix.EpollWait(p.epfd, p.evs, msec)
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return dst, false, nil
		}
		return dst, false, err
	}
	for i := range n {
		ev := &p.evs[i]
		key := getKey(ev)
		if key == wakeKey {
			var b [8]byte
			unix.Read(p.wake, b[:])
			woken = true
			continue
		}
		dst = append(dst, Event{
			Key: key,
			In:  ev.Events&unix.EPOLLIN != 0,
			Out: ev.Events&unix.EPOLLOUT != 0,
			Hup: ev.Events&(unix.EPOLLHUP|unix.EPOLLRDHUP|unix.EPOLLERR) != 0,
		})
	}
	return dst, woken, nil
}

// Wake makes a blocked Wait return.
func (p *Poller) Wake() error {
	b := [8]byte{1}
	_, err := unix.Write(p.wake, b[:])
	if errors.Is(err, unix.EAGAIN) { // the counter is full: a wake is pending anyway
		return nil
	}
	return err
}

// Close releases the poller.
func (p *Poller) Close() error {
	unix.Close(p.wake)
	return unix.Close(p.epfd)
}
