// Package pushapi serves the push API of proto/push.proto over gRPC, and
// over HTTP through grpc-gateway (POST /v1/pushData), in front of a
// core.Publisher. Both paths run the same checks: the API key, then
// core.Push.Check.
package pushapi

import (
	"context"
	"errors"
	"net/http"
	goruntime "runtime"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/proto/pushpb"
)

// Config configures the push API; the zero value works (no API key, the
// default payload limit, no hooks).
type Config struct {
	APIKey     string                // when set, calls need "Authorization: Bearer <key>"
	MaxPayload int                   // 0: core.DefaultMaxPayload
	OnError    func(code codes.Code) // called once per refused or failed call
}

type service struct {
	pushpb.UnimplementedPushServer
	cfg Config
	pub core.Publisher
}

func newService(cfg Config, pub core.Publisher) *service {
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = core.DefaultMaxPayload
	}
	return &service{cfg: cfg, pub: pub}
}

// PushData implements pushpb.PushServer.
func (s *service) PushData(ctx context.Context, d *pushpb.Data) (*pushpb.PushReply, error) {
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	p := core.Push{UID: d.GetUid(), Topic: d.GetTopic(), Data: d.GetData()}
	if err := p.Check(s.cfg.MaxPayload); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := s.pub.Publish(ctx, p); err != nil {
		if errors.Is(err, core.ErrInvalidPush) {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		return nil, status.Error(codes.Unavailable, "push not accepted: "+err.Error())
	}
	return &pushpb.PushReply{}, nil
}

func (s *service) failed(err error) {
	if err != nil && s.cfg.OnError != nil {
		s.cfg.OnError(status.Code(err))
	}
}

// NewGRPCServer returns a gRPC server with the push service registered.
func NewGRPCServer(cfg Config, pub core.Publisher, opts ...grpc.ServerOption) *grpc.Server {
	svc := newService(cfg, pub)
	count := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		svc.failed(err)
		return resp, err
	}
	// Stream workers: a fixed pool serves the calls instead of a new
	// goroutine (and its stack growth) per call; measured in
	// docs/results.md.
	base := []grpc.ServerOption{grpc.ChainUnaryInterceptor(count), grpc.NumStreamWorkers(uint32(goruntime.GOMAXPROCS(0)))}
	srv := grpc.NewServer(append(base, opts...)...)
	pushpb.RegisterPushServer(srv, svc)
	return srv
}

// NewGateway returns the HTTP handler of POST /v1/pushData. It calls the
// service in-process (no loopback gRPC hop). A body that is not valid JSON,
// or data that is not base64, is answered 400.
func NewGateway(ctx context.Context, cfg Config, pub core.Publisher) (http.Handler, error) {
	svc := newService(cfg, pub)
	mux := runtime.NewServeMux(
		runtime.WithErrorHandler(func(ctx context.Context, m *runtime.ServeMux, mar runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
			svc.failed(err)
			runtime.DefaultHTTPErrorHandler(ctx, m, mar, w, r, err)
		}),
	)
	if err := pushpb.RegisterPushHandlerServer(ctx, mux, svc); err != nil {
		return nil, err
	}
	return mux, nil
}
