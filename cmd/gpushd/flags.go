package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/internal/server"
	"github.com/gpush/gpush/variants"
)

type options struct {
	listVariants bool
	logLevel     string
}

// parse reads flags, then fills every flag not given on the command line
// from its GPUSH_ environment variable. A bad value names its flag.
func parse(args []string, stderr io.Writer) (server.Config, options, error) {
	var (
		cfg     server.Config
		opts    options
		origins string
	)
	fs := flag.NewFlagSet("gpushd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.WSAddr, "ws-addr", "127.0.0.1:8989", "WebSocket listen address (path /ws)")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:9090", "push API gRPC listen address")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:8080", "HTTP listen address: /v1/pushData, /v1/pushBatch, /metrics, /healthz, /readyz")
	fs.StringVar(&cfg.PprofAddr, "pprof-addr", "", "net/http/pprof listen address (empty: off)")
	fs.StringVar(&cfg.Variant, "variant", variants.Default, "server variant (-variants lists them)")
	fs.BoolVar(&opts.listVariants, "variants", false, "print every variant name, one a line, and exit")
	fs.StringVar(&cfg.JWTSecret, "jwt-secret", "", "HS256 secret for login tokens (empty: no JWT login)")
	fs.StringVar(&cfg.AuthURL, "auth-url", "", "login callback URL of the application's auth service")
	fs.DurationVar(&cfg.AuthTimeout, "auth-timeout", 3*time.Second, "timeout of the login callback")
	fs.StringVar(&cfg.APIKey, "api-key", "", "bearer key the push API requires (empty: none)")
	fs.IntVar(&cfg.MaxBody, "max-body", server.DefaultMaxBody, "push API request: HTTP body and gRPC message, bytes (413 / ResourceExhausted beyond)")
	fs.DurationVar(&cfg.BodyTimeout, "body-timeout", server.DefaultBodyTimeout, "push API: time to receive an HTTP body (408 beyond)")
	fs.IntVar(&cfg.MaxMetadata, "max-grpc-metadata", server.DefaultMaxMetadata, "push API: gRPC header list, bytes")
	fs.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", server.DefaultMaxHeaderBytes, "HTTP request headers, WebSocket upgrade and push API, bytes (431 beyond)")
	fs.StringVar(&cfg.PushFormat, "push-format", "json", "push wire format: json or raw")
	fs.IntVar(&cfg.Shards, "shards", 0, "registry shards (0: 4 x GOMAXPROCS)")
	fs.IntVar(&cfg.Limits.MaxFrame, "max-frame", core.DefaultMaxFrame, "largest client frame or message, bytes (close 1009 beyond)")
	fs.IntVar(&cfg.Limits.MaxPayload, "max-payload", core.DefaultMaxPayload, "largest push payload, bytes (400 beyond)")
	fs.IntVar(&cfg.Limits.MaxBatch, "max-batch", core.DefaultMaxBatch, "items per batch push (400 beyond)")
	fs.IntVar(&cfg.Limits.MaxSubs, "max-subs", core.DefaultMaxSubs, "subscriptions per connection (429 beyond)")
	fs.IntVar(&cfg.Limits.MaxReqRate, "max-req-rate", core.DefaultMaxReqRate, "requests per second per connection, pings included (429 beyond; close 1008 beyond twice it within a second)")
	fs.IntVar(&cfg.Limits.MaxQueued, "max-queued", core.DefaultMaxQueued, "bytes queued for one connection (close 1008 beyond)")
	fs.DurationVar(&cfg.Limits.IdleTimeout, "idle-timeout", core.DefaultIdleTimeout, "close a connection silent this long (1001)")
	fs.DurationVar(&cfg.Limits.WriteTimeout, "write-timeout", core.DefaultWriteTimeout, "close a connection whose socket accepts nothing this long")
	fs.IntVar(&cfg.MaxConns, "max-conns", 0, "open connections (0: no limit; 503 beyond)")
	fs.IntVar(&cfg.GRPCWorkers, "grpc-workers", 0, "push API gRPC worker goroutines (0: the measured default)")
	fs.StringVar(&origins, "allowed-origins", "", "comma-separated Origin allow-list (empty: any)")
	fs.DurationVar(&cfg.FlushInterval, "flush-interval", 10*time.Millisecond, "batched writes: flush this long after the first pending frame")
	fs.IntVar(&cfg.FlushBytes, "flush-bytes", 16<<10, "batched writes: flush at once when this many bytes are pending")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", 5*time.Second, "on SIGTERM, time to flush queued output before closing")
	fs.BoolVar(&cfg.Demo, "demo", false, "serve a demo page built on the JavaScript client at /demo/ on the HTTP address")
	fs.IntVar(&cfg.HistorySize, "history-size", 0, "pushes kept per channel for recovery with since (0: history off)")
	fs.DurationVar(&cfg.HistoryTTL, "history-ttl", core.DefaultHistoryTTL, "how long a channel keeps its pushes after its last push")
	fs.StringVar(&cfg.Broker, "broker", "", "join a cluster through NATS: nats://host:port[,nats://...] (empty: a single node)")
	fs.StringVar(&cfg.NodeID, "node-id", "", "this node's name in logs and at the broker (empty: random, logged at start)")
	fs.StringVar(&cfg.BrokerPrefix, "broker-prefix", "gpush", "NATS subject prefix of this cluster's pushes")
	fs.StringVar(&opts.logLevel, "log-level", "info", "debug, info, warn, error or off")
	configPath := fs.String("config", "", "YAML file of settings with the flag names as keys (flags and GPUSH_ variables win)")
	if err := fs.Parse(args); err != nil {
		return cfg, opts, err
	}
	if fs.NArg() > 0 {
		return cfg, opts, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := os.LookupEnv(envName(f.Name))
		if err != nil || set[f.Name] || !ok {
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = fmt.Errorf("%s=%q (flag -%s): %v", envName(f.Name), v, f.Name, e)
		}
		set[f.Name] = true
	})
	if err != nil {
		return cfg, opts, err
	}
	if *configPath != "" {
		if err := applyFile(fs, *configPath, set); err != nil {
			return cfg, opts, err
		}
	}
	if origins != "" {
		for _, o := range strings.Split(origins, ",") {
			cfg.AllowedOrigins = append(cfg.AllowedOrigins, strings.TrimSpace(o))
		}
	}
	var l slog.Level
	if opts.logLevel != "off" && l.UnmarshalText([]byte(opts.logLevel)) != nil {
		return cfg, opts, fmt.Errorf("log-level: %q is not debug, info, warn, error or off", opts.logLevel)
	}
	return cfg, opts, nil
}
