package pushapi

import (
	"context"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// authorize checks the API key. gRPC clients send it as metadata
// "authorization"; grpc-gateway forwards the HTTP header as
// "grpcgateway-authorization".
func (s *service) authorize(ctx context.Context) error {
	if s.cfg.APIKey == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := append(md.Get("authorization"), md.Get("grpcgateway-authorization")...)
	for _, v := range vals {
		if BearerKey(v, s.cfg.APIKey) {
			return nil
		}
	}
	if len(vals) == 0 {
		return status.Error(codes.Unauthenticated, "missing API key: send Authorization: Bearer <key>")
	}
	return status.Error(codes.Unauthenticated, "wrong API key")
}

// BearerKey reports whether an Authorization value is "Bearer <key>", in
// constant time over the key. The push API and the server's other guarded
// endpoints check their key with it.
func BearerKey(authorization, key string) bool {
	got, ok := strings.CutPrefix(authorization, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(key)) == 1
}
