package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	jsclient "github.com/gpush/gpush/clients/js"
	"github.com/gpush/gpush/cluster"
	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/auth"
	"github.com/gpush/gpush/pushapi"
	"github.com/gpush/gpush/variants"
)

// Server is one running gpush server.
type Server struct {
	cfg       Config
	hub       *core.Hub
	policy    core.Policy
	transport variants.Transport
	metrics   *metrics
	broker    *cluster.Broker // nil: a single node
	ready     atomic.Bool
	slots     slots // upgrades past the gate

	wsLn, grpcLn, httpLn, pprofLn net.Listener
	httpSrv, pprofSrv             *http.Server
	grpcSrv                       *grpc.Server
}

// New validates cfg, assembles the variant and binds every listener, so
// that the addresses are known (and taken) when it returns.
func New(cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	v, _ := variants.Lookup(cfg.Variant)
	opt := variants.Options{Shards: cfg.Shards, FlushInterval: cfg.FlushInterval, FlushBytes: cfg.FlushBytes}
	format, _ := core.ParseFormat(cfg.PushFormat)
	br, err := newBroker(cfg)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	s := &Server{cfg: cfg, policy: v.Policy(opt), broker: br}
	reg := v.Registry(opt)
	if cfg.WrapRegistry != nil {
		reg = cfg.WrapRegistry(reg)
	}
	s.hub = core.NewHub(core.Config{
		Registry: reg,
		Policy:   s.policy,
		Auth:     authenticator(cfg),
		Limits:   cfg.Limits,
		Format:   format,
		History:  core.HistoryConfig{Size: cfg.HistorySize, TTL: cfg.HistoryTTL, Node: nodeOf(br)},
		Broker:   coreBroker(br),
		Logger:   cfg.Logger,
	})
	s.metrics = newMetrics(s.hub.Stats())
	if br != nil {
		s.metrics.reg.MustRegister(brokerCollector{br.Stats()})
		br.Start(s.hub) // connects in the background: a node starts with the broker unreachable
	}
	tr, err := v.Transport(s.hub)
	if err != nil {
		s.closeAll()
		return nil, fmt.Errorf("variant %s: %w", cfg.Variant, err)
	}
	s.transport = tr
	if err := s.listen(); err != nil {
		s.closeAll()
		return nil, err
	}
	if err := s.buildAPIs(); err != nil {
		s.closeAll()
		return nil, err
	}
	return s, nil
}

func authenticator(cfg Config) core.Authenticator {
	switch {
	case cfg.Auth != nil:
		return cfg.Auth
	case cfg.JWTSecret != "":
		return auth.JWT{Secret: []byte(cfg.JWTSecret)}
	case cfg.AuthURL != "":
		return auth.Callback{URL: cfg.AuthURL, Timeout: cfg.AuthTimeout}
	}
	return nil
}

func (s *Server) listen() error {
	var err error
	bind := func(name, addr string) net.Listener {
		if err != nil || addr == "" {
			return nil
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		}
		return ln
	}
	s.wsLn = bind("ws-addr", s.cfg.WSAddr)
	s.grpcLn = bind("grpc-addr", s.cfg.GRPCAddr)
	s.httpLn = bind("http-addr", s.cfg.HTTPAddr)
	s.pprofLn = bind("pprof-addr", s.cfg.PprofAddr)
	if err == nil && (s.wsLn == nil || s.grpcLn == nil || s.httpLn == nil) {
		err = errors.New("ws-addr, grpc-addr and http-addr must all be set")
	}
	return err
}

func (s *Server) buildAPIs() error {
	api := pushapi.Config{
		APIKey:        s.cfg.APIKey,
		MaxPayload:    s.cfg.Limits.MaxPayload,
		MaxBatch:      s.cfg.Limits.MaxBatch,
		StreamWorkers: s.cfg.GRPCWorkers,
		MaxBody:       s.cfg.MaxBody,
		BodyTimeout:   s.cfg.BodyTimeout,
		MaxMetadata:   s.cfg.MaxMetadata,
		OnError:       s.metrics.pushError,
	}
	s.grpcSrv = pushapi.NewGRPCServer(api, s.hub)
	gw, err := pushapi.NewGateway(context.Background(), api, s.hub)
	if err != nil {
		return fmt.Errorf("push API gateway: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", gw)
	mux.Handle("/metrics", s.metrics.handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", s.readyz)
	mux.HandleFunc("/debug/gpush/memory", s.memory)
	if s.cfg.Demo {
		_, wsPort, _ := net.SplitHostPort(s.wsLn.Addr().String())
		mux.Handle("/demo/", jsclient.Demo(wsPort))
	}
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: s.cfg.MaxHeaderBytes}
	if s.pprofLn != nil {
		pm := http.NewServeMux()
		pm.HandleFunc("/debug/pprof/", pprof.Index)
		pm.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		pm.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pm.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pm.HandleFunc("/debug/pprof/trace", pprof.Trace)
		s.pprofSrv = &http.Server{Handler: pm, ReadHeaderTimeout: 10 * time.Second}
	}
	return nil
}

// Addr returns the bound addresses: WebSocket, gRPC, HTTP.
func (s *Server) Addr() (ws, grpcAddr, httpAddr string) {
	return s.wsLn.Addr().String(), s.grpcLn.Addr().String(), s.httpLn.Addr().String()
}

// Hub returns the server's hub.
func (s *Server) Hub() *core.Hub { return s.hub }

// Serve serves until ctx is done, then shuts down gracefully: /readyz turns
// 503, new upgrades are refused, queued output is flushed within the drain
// timeout, every client gets close 1001 `going away`. It returns the first
// serving error, or nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 4)
	serve := func(name string, f func() error) {
		go func() {
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("%s: %w", name, err)
				return
			}
			errc <- nil
		}()
	}
	serve("ws", func() error { return s.transport.Serve(s.wsLn, s.gate()) })
	serve("grpc", func() error { return s.grpcSrv.Serve(s.grpcLn) })
	serve("http", func() error { return s.httpSrv.Serve(s.httpLn) })
	n := 3
	if s.pprofSrv != nil {
		serve("pprof", func() error { return s.pprofSrv.Serve(s.pprofLn) })
		n++
	}
	s.ready.Store(true)
	s.cfg.Logger.Info("gpushd serving", "variant", s.cfg.Variant, "ws", "ws://"+s.wsLn.Addr().String()+"/ws",
		"grpc", s.grpcLn.Addr().String(), "http", "http://"+s.httpLn.Addr().String())
	if s.cfg.Demo {
		s.cfg.Logger.Info("gpushd demo page", "url", "http://"+s.httpLn.Addr().String()+"/demo/")
	}
	s.logCluster()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		n--
	}
	s.shutdown()
	for ; n > 0; n-- {
		if e := <-errc; err == nil {
			err = e
		}
	}
	return err
}

func (s *Server) shutdown() {
	s.ready.Store(false)
	s.cfg.Logger.Info("gpushd draining", "timeout", s.cfg.DrainTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	s.slots.close(ctx) // no new upgrades; those past the gate finish, so Drain sees their connections
	s.wsLn.Close()     // and the WebSocket port: handshakes still in flight are refused by the closed gate
	s.hub.Drain(ctx)
	s.stopGRPC(ctx)
	s.httpSrv.Shutdown(ctx)
	if s.pprofSrv != nil {
		s.pprofSrv.Close()
	}
	s.closeAll()
	s.cfg.Logger.Info("gpushd stopped")
}

// stopGRPC lets gRPC calls in flight finish until ctx is done, then cuts
// the rest: a push stream a back end keeps open must not hold the process.
func (s *Server) stopGRPC(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		s.grpcSrv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpcSrv.Stop()
		<-done
	}
}

// closeAll releases what New made, for the paths that never served.
func (s *Server) closeAll() {
	if s.transport != nil {
		s.transport.Close()
	}
	if c, ok := s.policy.(io.Closer); ok {
		c.Close()
	}
	if s.broker != nil {
		s.broker.Close()
	}
	s.hub.Close()
	for _, ln := range []net.Listener{s.wsLn, s.grpcLn, s.httpLn, s.pprofLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

// Config returns the settings in force, defaults filled in.
func (s *Server) Config() Config { return s.cfg }
