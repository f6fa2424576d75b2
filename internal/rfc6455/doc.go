// Package rfc6455 holds the RFC 6455 compliance suite every registered
// variant must pass. Its cases follow the categories of the Autobahn
// testsuite's fuzzing cases: 1 framing, 2 pings and pongs, 3 reserved bits,
// 4 opcodes, 5 fragmentation, 6 UTF-8, 7 close handling, 9 limits. The
// server has no echo, so each case observes what docs/protocol.md promises:
// replies to requests, pong for ping, the close code of a violation, and
// the socket closing after the close frame.
//
// Every case runs against every variant, replayed three ways: the whole
// byte stream in one write, one write per byte, and three pieces with
// pauses between. The test prints one row per case x variant x replay mode;
// GPUSH_RFC_REPORT=path also writes the table as Markdown.
package rfc6455
