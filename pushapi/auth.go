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
		key, ok := strings.CutPrefix(v, "Bearer ")
		if ok && subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) == 1 {
			return nil
		}
	}
	if len(vals) == 0 {
		return status.Error(codes.Unauthenticated, "missing API key: send Authorization: Bearer <key>")
	}
	return status.Error(codes.Unauthenticated, "wrong API key")
}
