// Package conformance holds the suite every registered variant must pass:
// docs/protocol.md over real sockets, through the real gRPC and HTTP push APIs.
// A new variant joins by registering itself in package variants.
package conformance
