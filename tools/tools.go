//go:build tools

// Package tools pins the tools the Makefile builds, outside the main
// module's dependencies: the protoc plugins of `make proto` and staticcheck
// for `make lint`.
package tools

import (
	_ "github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway"
	_ "google.golang.org/grpc/cmd/protoc-gen-go-grpc"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
