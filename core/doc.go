// Package core is gpush without sockets: the requests, replies and session
// rules of docs/protocol.md, the push API's Push and Publisher, the Hub that
// turns a push into frame bytes once and queues them for every recipient,
// and the three seams the variant axes fill (a transport's Link, Registry,
// Policy). It imports nothing above it: transports, registries and write
// policies live in variants/ and import core.
//
// # Writing a transport
//
// A transport owns the sockets and the framing; core decides what is sent.
// It meets core in this order, and needs no other file.
//
// Open. Once the WebSocket handshake is done, the transport calls Hub.Open
// with its Link (its side of the connection) and keeps the *Conn. The
// connection is registered before Open returns and a push may kick it at
// once, so the Link must be ready for Kick first (the epoll transport holds
// its write lock across Open).
//
// Parse/Apply or Handle. Each complete client text message goes to
// Conn.Handle, one at a time and in order. Handle may block in a login's
// Authenticator: an event loop, which must not block, calls Conn.Parse
// (never waits), then Conn.Apply in place, or on a goroutine of its own when
// Request.MayBlock. Control frames go to Conn.Pong (ping), Conn.Touch (pong)
// and Conn.EchoClose (close); a protocol violation to Conn.CloseWith with its
// RFC 6455 code. Core recovers a panic while handling a request and closes
// that connection with 1011: a transport needs no recover of its own.
//
// Link.Kick. Whenever output is queued (a reply, a push as the write Policy
// decides, a close frame) core calls Kick: write the outbox now or soon,
// never blocking the caller, which may hold registry locks. Kicker is the
// kick loop of a transport whose writes never block (one writer at a time;
// a kick that finds the writer busy leaves the work to it). Link.Abort
// closes the socket at once (write timeout, drain).
//
// Out.Peek/Advance. The writer takes the pending bytes with Conn.Out.Peek, as
// slices of frames shared by every recipient (write them, never modify
// them), writes what the socket takes and reports the count to
// Out.Advance. Peek hands one frame or several per write, as the write
// Policy coalesces or not. When Advance reports closeNow, the close frame is
// out: close the socket.
//
// Closed. When the socket is closed, whoever closed it, the transport calls
// Hub.Closed (idempotent), which unregisters the connection and releases
// its queue. Never from inside Kick: Closed takes registry locks.
//
// The lock order and which goroutine owns what: docs/locking.md. The path of
// a push and of a request through the tree: docs/architecture.md.
package core
