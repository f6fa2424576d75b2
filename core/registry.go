package core

// Registry indexes connections: public topic -> connections, (uid, topic) ->
// connections, and every connection. Implementations live in
// variants/registry. Every method is safe for concurrent use; fn runs with
// registry read locks held and must not call back into the registry
// (docs/locking.md).
type Registry interface {
	Add(c *Conn)
	// Remove drops c and the subscriptions listed in subs.
	Remove(c *Conn, subs []Sub)
	Subscribe(s Sub, c *Conn)
	Unsubscribe(s Sub, c *Conn)
	// Each calls fn for every connection a push with that target reaches
	// and returns how many there were.
	Each(t Target, s Sub, fn func(*Conn)) int
	// Len returns the number of connections.
	Len() int
}
