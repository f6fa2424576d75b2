package core

// Policy is a write policy: it decides when a connection's queued frames go
// out. Implementations live in variants/policy.
type Policy interface {
	// Queued is told that c's outbox holds pending bytes now. It runs
	// inside a push's registry walk, so it must not write: it returns true
	// when c is to be written at once, and the hub kicks it once the walk is
	// over and every lock released (docs/locking.md).
	Queued(c *Conn, pending int) (now bool)
	// Coalesce says whether a write may carry several frames (batched) or
	// one frame each (immediate).
	Coalesce() bool
}
