//go:build !linux

package poll

// Poller is unavailable on this platform.
type Poller struct{}

// New returns ErrUnsupported.
func New(int) (*Poller, error) { return nil, ErrUnsupported }

// Add returns ErrUnsupported.
func (*Poller) Add(int, uint64) error { return ErrUnsupported }

// Del returns ErrUnsupported.
func (*Poller) Del(int) error { return ErrUnsupported }

// Mod returns ErrUnsupported.
func (*Poller) Mod(int, uint64) error { return ErrUnsupported }

// Wait returns ErrUnsupported.
func (*Poller) Wait(dst []Event, _ int) ([]Event, bool, error) { return dst, false, ErrUnsupported }

// Wake returns ErrUnsupported.
func (*Poller) Wake() error { return ErrUnsupported }

// Close returns ErrUnsupported.
func (*Poller) Close() error { return ErrUnsupported }
