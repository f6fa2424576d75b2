// Package server assembles a gpush server: a variant's transport behind the
// WebSocket upgrade gate, the hub, the push API over gRPC and HTTP, metrics
// and health. cmd/gpushd parses flags into a Config and runs it; tests run it
// in-process.
package server

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/pushapi"
	"github.com/gpush/gpush/variants"
)

// Config is every setting of the server. The zero value of a field means its
// default, except the addresses, which must be set ("127.0.0.1:0" picks a
// free port).
type Config struct {
	WSAddr         string // WebSocket, path /ws
	GRPCAddr       string // push API, gRPC
	HTTPAddr       string // push API over HTTP, /metrics, /healthz, /readyz
	PprofAddr      string // net/http/pprof; empty: off
	Variant        string // empty: variants.Default
	JWTSecret      string // HS256 login; empty with AuthURL empty: login refused
	AuthURL        string // HTTP callback login
	AuthTimeout    time.Duration
	Auth           core.Authenticator // not nil: the login check, in place of JWTSecret and AuthURL (embedders, tests)
	APIKey         string             // push API bearer key; empty: no key
	MaxBody        int                // push API HTTP body and gRPC message, bytes; 0: 4 MiB
	BodyTimeout    time.Duration      // to receive a push API HTTP body; 0: 10 s
	MaxMetadata    int                // push API gRPC header list, bytes; 0: 64 KiB
	MaxHeaderBytes int                // HTTP request headers, upgrade and push API; 0: 16 KiB
	PushFormat     string             // json | raw
	Shards         int
	Limits         core.Limits
	MaxConns       int // 0: no limit
	GRPCWorkers    int // push API gRPC stream workers; 0: pushapi.DefaultStreamWorkers
	AllowedOrigins []string
	FlushInterval  time.Duration
	FlushBytes     int
	DrainTimeout   time.Duration // 0: 5 s
	Demo           bool          // serve the demo page at /demo/ on HTTPAddr
	HistorySize    int           // pushes kept per channel for recovery; 0: history off
	HistoryTTL     time.Duration // how long a channel keeps them after its last push; 0: 5 m
	// Broker joins a cluster: NATS URLs, nats://host:port[,nats://...];
	// empty: a single node, delivery in process.
	Broker           string
	NodeID           string        // names the node (logs, NATS); empty: random
	BrokerPrefix     string        // NATS subject prefix; empty: cluster.DefaultPrefix
	BrokerUnsubDelay time.Duration // unsubscribe a subject this long after its last local subscriber; 0: 1 s
	Logger           *slog.Logger  // nil: slog.Default()
	// WrapRegistry, when set, wraps the variant's registry: tests use it to
	// pause a registry walk at a chosen moment.
	WrapRegistry func(core.Registry) core.Registry
}

// check validates the settings and names the first bad one.
func (c *Config) check() error {
	if c.Variant == "" {
		c.Variant = variants.Default
	}
	if _, err := variants.Lookup(c.Variant); err != nil {
		return fmt.Errorf("variant: %w", err)
	}
	if _, ok := core.ParseFormat(c.PushFormat); !ok {
		return fmt.Errorf("push-format: %q is neither json nor raw", c.PushFormat)
	}
	if c.JWTSecret != "" && c.AuthURL != "" {
		return fmt.Errorf("jwt-secret and auth-url: set one login check, not both")
	}
	for name, v := range map[string]int{
		"shards": c.Shards, "max-frame": c.Limits.MaxFrame, "max-subs": c.Limits.MaxSubs,
		"max-queued": c.Limits.MaxQueued, "max-conns": c.MaxConns, "max-req-rate": c.Limits.MaxReqRate,
		"max-payload": c.Limits.MaxPayload, "flush-bytes": c.FlushBytes,
		"max-batch": c.Limits.MaxBatch, "grpc-workers": c.GRPCWorkers, "history-size": c.HistorySize,
		"max-body": c.MaxBody, "max-grpc-metadata": c.MaxMetadata, "max-header-bytes": c.MaxHeaderBytes,
	} {
		if v < 0 {
			return fmt.Errorf("%s: %d is negative", name, v)
		}
	}
	for name, v := range map[string]time.Duration{
		"idle-timeout": c.Limits.IdleTimeout, "flush-interval": c.FlushInterval,
		"drain-timeout": c.DrainTimeout, "write-timeout": c.Limits.WriteTimeout, "history-ttl": c.HistoryTTL,
		"body-timeout": c.BodyTimeout,
	} {
		if v < 0 {
			return fmt.Errorf("%s: %v is negative", name, v)
		}
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 5 * time.Second
	}
	if c.HistoryTTL == 0 {
		c.HistoryTTL = core.DefaultHistoryTTL
	}
	c.defaultSizes()
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Limits = c.Limits.WithDefaults()
	return nil
}

// Defaults of the request limits (docs/protocol.md, Limits).
const (
	DefaultMaxBody        = pushapi.DefaultMaxBody
	DefaultBodyTimeout    = pushapi.DefaultBodyTimeout
	DefaultMaxMetadata    = pushapi.DefaultMaxMetadata
	DefaultMaxHeaderBytes = 16 << 10
)

// defaultSizes fills the request limits left zero.
func (c *Config) defaultSizes() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxBody, DefaultMaxBody)
	def(&c.MaxMetadata, DefaultMaxMetadata)
	def(&c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	if c.BodyTimeout == 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
}
