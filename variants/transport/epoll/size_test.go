package epoll

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// An idle connection is a conn and a core.Conn. conn keeps no parser (the
// loop's one parses; a partial frame's state is parked outside it), no
// loop pointer and no login queue pointer, and a byte past 48 puts every
// conn in the 64-byte size class.
func TestConnSize(t *testing.T) {
	size := unsafe.Sizeof(conn{})
	t.Logf("unsafe.Sizeof(conn{}) = %d", size)
	assert.LessOrEqual(t, size, uintptr(48), "conn is kept per connection: keep it in the 48-byte size class")
}
