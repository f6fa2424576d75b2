// Package poll is the one place that talks to epoll: a readiness poller over
// raw file descriptors, for transports that keep no goroutine per
// connection. On platforms without epoll, New returns ErrUnsupported.
package poll

import "errors"

// ErrUnsupported: this platform has no epoll.
var ErrUnsupported = errors.New("poll: epoll is not supported on this platform")

// Event is one readiness report: the key given to Add, and what is ready.
type Event struct {
	Key uint64
	In  bool // readable
	Out bool // writable again after a write would have blocked
	Hup bool // peer hung up or error: read what is left, then close
}
