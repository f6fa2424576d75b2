package core

// Policy is a write policy: it decides when a connection's queued frames go
// out. Implementations live in variants/policy.
type Policy interface {
	// Queued is told that c's outbox holds pending bytes now.
	Queued(c *Conn, pending int)
	// Coalesce says whether a write may carry several frames (batched) or
	// one frame each (immediate).
	Coalesce() bool
}
