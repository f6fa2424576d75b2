//go:build !linux

package gorilla

// fdUnacked reports false: the linger is Limits.CloseLinger alone.
func fdUnacked(int) bool { return false }
