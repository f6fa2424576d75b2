package epoll

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// An idle connection is a conn and a core.Conn: a byte past 112 puts every
// conn in the 128-byte size class.
func TestConnSize(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(conn{}), uintptr(112), "conn is kept per connection: keep it in the 112-byte size class")
}
