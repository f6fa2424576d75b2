package epoll

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// An idle connection is a conn and a core.Conn: a byte past 128 puts every
// conn in the 144-byte size class.
func TestConnSize(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(conn{}), uintptr(128), "conn is kept per connection: keep it in the 128-byte size class")
}
