package core

import "time"

// Gate is the server's rule for its WebSocket port, which the transport
// serving the port applies to every upgrade request: which path it serves,
// how large and how slow a request may be, and whether a well-formed
// upgrade may become a connection. The epoll transport applies it on its
// event loops; the others in a net/http handler (variants.viaHTTP).
type Gate struct {
	Path           string        // the one path served (404 for others), e.g. "/ws"
	MaxHeaderBytes int           // request line and headers; 431 beyond
	Timeout        time.Duration // for the whole request to arrive; closed without answer after

	// Admit decides for a well-formed upgrade request, with its Origin
	// header ("" when none): 0 admits it and holds a place for it until
	// Done; any other status refuses it with that HTTP status and text.
	// Event loops call it, so it must not wait for long.
	Admit func(origin string) (status int, text string)
	// Done ends an admission: the connection is open in the hub, or its
	// upgrade failed after Admit.
	Done func()
	// Failed, when set, is told why a request ended without an upgrade for
	// a reason of the transport's own (one of the Handshake* reasons);
	// Admit's refusals are the gate's to count.
	Failed func(reason string)
}

// The reasons Gate.Failed is given.
const (
	HandshakeNotFound   = "not_found"   // a path other than Gate.Path: 404
	HandshakeBadRequest = "bad_request" // not a well-formed upgrade request: 400, 405, 426, 505
	HandshakeTooLarge   = "too_large"   // headers past Gate.MaxHeaderBytes: 431
	HandshakeTimeout    = "timeout"     // not whole within Gate.Timeout: closed without an answer
)
