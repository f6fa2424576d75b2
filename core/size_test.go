package core

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// Every connection is a Conn: a byte past 176 puts each in the 192-byte
// size class.
func TestConnSize(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(Conn{}), uintptr(176), "Conn is kept per connection: keep it in the 176-byte size class")
}
