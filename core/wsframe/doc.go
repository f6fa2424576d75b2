// Package wsframe parses and builds RFC 6455 WebSocket frames for servers
// that read from non-blocking sockets (an epoll loop), where a readiness
// event says nothing about how much of a frame has arrived.
//
// A Parser is kept per connection and fed whatever each read returned.
// It resumes at any byte boundary, never re-reads bytes it has consumed,
// delivers a frame that arrived whole straight from the read buffer
// (unmasked in place) and borrows a pooled buffer only while a frame or a
// fragmented message is incomplete, so an idle connection holds none.
// A server with many connections may instead keep one Parser per parsing
// goroutine and per connection a Parked (8 bytes), which holds state only
// while a frame or message is partial (FeedParked). Held counts the pooled
// Parsers and buffers that partial frames hold, process-wide.
//
// Every protocol violation is a *CloseError carrying the close code that
// RFC 6455 prescribes; the predeclared ones (ErrReservedBits, ...) can be
// compared with errors.Is, and the code read with errors.As.
package wsframe
