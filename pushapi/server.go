// Package pushapi serves the push API of proto/push.proto over gRPC, and
// over HTTP through grpc-gateway (POST /v1/pushData, POST /v1/pushBatch),
// in front of a core.Publisher. Every path runs the same checks: the API
// key, then core.Push.Check on each push (batch.go: PushBatch and
// PushStream).
package pushapi

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	goruntime "runtime"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/proto/pushpb"
)

// Config configures the push API; the zero value works (no API key, the
// default limits, no hooks).
type Config struct {
	APIKey        string                // when set, calls need "Authorization: Bearer <key>"
	MaxPayload    int                   // 0: core.DefaultMaxPayload
	MaxBatch      int                   // items per PushBatch call; 0: core.DefaultMaxBatch
	StreamWorkers int                   // gRPC stream workers; 0: DefaultStreamWorkers
	MaxBody       int                   // HTTP body and gRPC message, bytes; 0: DefaultMaxBody
	BodyTimeout   time.Duration         // to receive an HTTP body; 0: DefaultBodyTimeout
	MaxMetadata   int                   // gRPC header list, bytes; 0: DefaultMaxMetadata
	OnError       func(code codes.Code) // called once per refused or failed call
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
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = core.DefaultMaxBatch
	}
	return &service{cfg: cfg, pub: pub}
}

// PushData implements pushpb.PushServer.
func (s *service) PushData(ctx context.Context, d *pushpb.Data) (*pushpb.PushReply, error) {
	if err := s.authorize(ctx); err != nil {
		return nil, err
	}
	p := toPush(d)
	if err := p.Check(s.cfg.MaxPayload); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := s.pub.Publish(ctx, p); err != nil {
		return nil, publishError(err)
	}
	return &pushpb.PushReply{}, nil
}

func toPush(d *pushpb.Data) core.Push {
	return core.Push{UID: d.GetUid(), Topic: d.GetTopic(), Data: d.GetData()}
}

// publishError is the status of a push the publisher did not accept.
func publishError(err error) error {
	if errors.Is(err, core.ErrInvalidPush) {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Unavailable, "push not accepted: "+err.Error())
}

func (s *service) failed(err error) {
	if err != nil && s.cfg.OnError != nil {
		s.cfg.OnError(status.Code(err))
	}
}

// DefaultStreamWorkers is the size of the gRPC server's worker pool: 16,
// or GOMAXPROCS when larger. Calls beyond the pool run on fresh goroutines
// that grow their stacks every call. Measured on 2 cores (harness, private
// scenario, 16 closed-loop callers, 5 alternating pairs): 16 workers cost
// a median 0.88x the server CPU per unary push of GOMAXPROCS (2) workers
// (pairs 0.81-0.99); with 1 caller they make no difference. See
// docs/results.md.
func DefaultStreamWorkers() int { return max(16, goruntime.GOMAXPROCS(0)) }

// NewGRPCServer returns a gRPC server with the push service registered.
func NewGRPCServer(cfg Config, pub core.Publisher, opts ...grpc.ServerOption) *grpc.Server {
	svc := newService(cfg, pub)
	count := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		svc.failed(err)
		return resp, err
	}
	countStream := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		err := h(srv, ss)
		svc.failed(err)
		return err
	}
	base := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(count), grpc.ChainStreamInterceptor(countStream),
		grpc.NumStreamWorkers(uint32(cmp.Or(cfg.StreamWorkers, DefaultStreamWorkers()))),
	}
	base = append(base, grpcLimits(cfg.withDefaults())...)
	srv := grpc.NewServer(append(base, opts...)...)
	pushpb.RegisterPushServer(srv, svc)
	return srv
}

// NewGateway returns the HTTP handler of POST /v1/pushData and POST
// /v1/pushBatch. It calls the service in-process (no loopback gRPC hop). A
// body that is not valid JSON, or data that is not base64 (in any item of a
// batch), is answered 400. Every route first passes the whole-call checks (see
// guard): API key, content type, body size and time.
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
	return guard{cfg: cfg.withDefaults(), next: mux, failed: cfg.OnError}, nil
}
