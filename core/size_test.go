package core

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// Every connection is a Conn: a byte past 112 puts each in the 128-byte
// size class.
func TestConnSize(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(Conn{}), uintptr(112), "Conn is kept per connection: keep it in the 112-byte size class")
}

// A connection's subscriptions are one inline key and a pointer to the rest.
func TestSubSetSize(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(subSet{}), uintptr(16), "subSet is kept per connection: one key inline, the rest behind a pointer")
}

// An idle Outbox is its lock and a nil pointer: whatever a pending frame
// needs lives in the pooled queue.
func TestOutboxSize(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(Outbox{}), uintptr(16), "Outbox is kept per connection: what only pending frames need belongs in queue")
}
