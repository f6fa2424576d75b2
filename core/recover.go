package core

import (
	"fmt"
	"runtime/debug"
)

// recoverRequest, deferred by each entry point of request handling (Parse,
// Apply), turns a panic into close 1011 for this connection alone, the way
// net/http's conn.serve recovers a handler: every transport gets the same
// behaviour without a recover of its own. ok, when not nil, is set false so
// that the caller does not go on with a half-parsed request.
func (c *Conn) recoverRequest(ok *bool) {
	r := recover()
	if r == nil {
		return
	}
	if ok != nil {
		*ok = false
	}
	c.hub.log.Error("request handler panicked", "conn", c.id, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	c.CloseWith(CloseInternal, "internal error")
}
