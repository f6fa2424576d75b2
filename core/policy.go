package core

// Policy is a write policy: it decides when a connection's queued frames go
// out. Implementations live in variants/writer.
type Policy interface {
	// Queued is told that c's outbox holds pending bytes now; first says
	// whether it was empty before this frame.
	Queued(c *Conn, pending int, first bool)
	// Coalesce says whether a write may carry several frames (batched) or
	// one frame each (immediate).
	Coalesce() bool
}
