package core

import "time"

// Limits are the per-connection and per-push limits of docs/protocol.md. The zero
// value of a field means its default.
type Limits struct {
	MaxFrame     int           // client frame or message size (4 KiB); breach: close 1009
	MaxPayload   int           // push payload (64 KiB); breach: 400 / InvalidArgument
	MaxBatch     int           // items per batch push (1,000); breach: 400 / InvalidArgument
	MaxSubs      int           // subscriptions per connection, public and private (256); breach: status 429
	MaxReqRate   int           // requests per second per connection (100); breach: status 429
	MaxQueued    int           // bytes queued for one connection (1 MiB); breach: close 1008
	IdleTimeout  time.Duration // no frame from the client (60 s); breach: close 1001
	WriteTimeout time.Duration // socket accepts nothing (10 s); breach: connection closed
	CloseLinger  time.Duration // reading on after the close frame is written (2 s; the write timeout while the peer has not acknowledged it)
}

// Defaults for Limits.
const (
	DefaultMaxFrame     = 4 << 10
	DefaultMaxPayload   = 64 << 10
	DefaultMaxBatch     = 1000
	DefaultMaxSubs      = 256
	DefaultMaxReqRate   = 100
	DefaultMaxQueued    = 1 << 20
	DefaultIdleTimeout  = 60 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultCloseLinger  = 2 * time.Second
)

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxFrame, DefaultMaxFrame)
	def(&l.MaxPayload, DefaultMaxPayload)
	def(&l.MaxBatch, DefaultMaxBatch)
	def(&l.MaxSubs, DefaultMaxSubs)
	def(&l.MaxReqRate, DefaultMaxReqRate)
	def(&l.MaxQueued, DefaultMaxQueued)
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.WriteTimeout == 0 {
		l.WriteTimeout = DefaultWriteTimeout
	}
	if l.CloseLinger == 0 {
		l.CloseLinger = DefaultCloseLinger
	}
	return l
}
