#!/usr/bin/env bash
# Regenerates proto/pushpb from proto/push.proto with the plugin versions
# pinned in tools/go.mod, built from the module cache (offline once cached).
# Usage: bash proto/gen.sh [OUTDIR]   (default: proto/pushpb)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/proto/pushpb}
want="libprotoc 3.21"
have=$(protoc --version 2>/dev/null || true)
if [[ "$have" != "$want"* ]]; then
  echo "proto/gen.sh: need protoc 3.21 (Debian: apt-get install protobuf-compiler), have '${have:-none}'" >&2
  exit 1
fi
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$root/tools" && for p in google.golang.org/protobuf/cmd/protoc-gen-go \
    google.golang.org/grpc/cmd/protoc-gen-go-grpc \
    github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway; do
  go build -o "$bin/" "$p"
done)
mkdir -p "$out"
PATH="$bin:$PATH" protoc -I "$root/proto" \
  --go_out="$out" --go_opt=paths=source_relative \
  --go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
  --grpc-gateway_out="$out" --grpc-gateway_opt=paths=source_relative \
  --grpc-gateway_opt=grpc_api_configuration="$root/proto/push_gateway.yaml" \
  "$root/proto/push.proto"
