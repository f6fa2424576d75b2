//go:build !linux

package poll

import (
	"errors"
	"syscall"
)

// ErrAgain: the operation would block.
var ErrAgain = errors.New("poll: would block")

// IOV is scratch space for Writev.
type IOV struct{}

// Detach returns ErrUnsupported.
func Detach(syscall.Conn) (int, error) { return -1, ErrUnsupported }

// Write returns ErrUnsupported.
func Write(int, []byte) (int, error) { return 0, ErrUnsupported }

// Read returns ErrUnsupported.
func Read(int, []byte) (int, error) { return 0, ErrUnsupported }

// Writev returns ErrUnsupported.
func Writev(int, [][]byte, *IOV) (int, error) { return 0, ErrUnsupported }

// Shutdown returns ErrUnsupported.
func Shutdown(int) error { return ErrUnsupported }

// ShutdownWrite returns ErrUnsupported.
func ShutdownWrite(int) error { return ErrUnsupported }

// Unacked reports false.
func Unacked(int) bool { return false }

// Close returns ErrUnsupported.
func Close(int) error { return ErrUnsupported }
