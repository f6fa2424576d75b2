package gorilla

import "golang.org/x/sys/unix"

// fdUnacked reports whether the socket's send queue holds bytes (or a FIN)
// the peer has not acknowledged (SIOCOUTQ).
func fdUnacked(fd int) bool {
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	return err == nil && n > 0
}
