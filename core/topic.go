package core

import (
	"errors"
	"fmt"
)

// MaxTopicLen is the longest topic name, in bytes.
const MaxTopicLen = 128

// MaxUIDLen is the longest user id, in bytes.
const MaxUIDLen = 256

// ErrBadTopic is wrapped by every topic validation error.
var ErrBadTopic = errors.New("invalid topic")

// CheckTopic reports whether t is 1..128 bytes of A-Z a-z 0-9 _ - . : /.
func CheckTopic(t string) error {
	if t == "" {
		return fmt.Errorf("%w: empty", ErrBadTopic)
	}
	if len(t) > MaxTopicLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrBadTopic, MaxTopicLen)
	}
	for i := 0; i < len(t); i++ {
		if !topicByte(t[i]) {
			return fmt.Errorf("%w: byte %q at %d is not one of A-Z a-z 0-9 _ - . : /", ErrBadTopic, t[i], i)
		}
	}
	return nil
}

func topicByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return c == '_' || c == '-' || c == '.' || c == ':' || c == '/'
}
