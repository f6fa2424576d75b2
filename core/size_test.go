package core

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// Every connection is a Conn: a byte past 128 puts each in the 144-byte
// size class.
func TestConnSize(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(Conn{}), uintptr(128), "Conn is kept per connection: keep it in the 128-byte size class")
}

// An idle Outbox is its lock and a nil pointer: whatever a pending frame
// needs lives in the pooled queue.
func TestOutboxSize(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(Outbox{}), uintptr(16), "Outbox is kept per connection: what only pending frames need belongs in queue")
}
