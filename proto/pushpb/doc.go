// Package pushpb is the Go code generated from proto/push.proto, the push
// API a back end calls: the Push service (PushData, PushBatch, PushStream)
// and its messages (push.pb.go, protoc-gen-go), the gRPC client and server
// stubs (push_grpc.pb.go) and the grpc-gateway handlers that serve the same
// calls as HTTP JSON (push.pb.gw.go, mapped by proto/push_gateway.yaml).
// Package pushapi implements the service; docs/protocol.md describes it.
//
// Every file here but this one is generated: change proto/push.proto and
// run `make proto`; `make check-proto` fails when a generated file is stale.
package pushpb
