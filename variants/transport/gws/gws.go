// Package gws is a peer-baseline transport on github.com/lxzan/gws in the
// server pattern its README gives as best practice: gws.NewUpgrader with an
// event handler, and socket.ReadLoop in a goroutine of its own per
// connection. It is a thin layer over core: gws reads and frames, core
// decides, and the frames core queued (shared, pre-encoded) go out the way
// gws's Broadcaster sends its pre-encoded frame: a job on the connection's
// write queue (Conn.Async, one job at a time per connection) that writes
// the bytes to the connection (Conn.NetConn).
package gws

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/lxzan/gws"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe"
)

// Transport upgrades HTTP requests to connections served by gws.
type Transport struct {
	hub    *core.Hub
	up     *gws.Upgrader
	wg     sync.WaitGroup // read loops and write jobs
	ctx    context.Context
	cancel context.CancelFunc
}

// New returns a transport that feeds hub.
func New(hub *core.Hub) *Transport {
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{hub: hub, ctx: ctx, cancel: cancel}
	t.up = gws.NewUpgrader(handler{t}, &gws.ServerOption{
		ReadMaxPayloadSize: max(hub.Limits().MaxFrame, wsframe.MaxControlPayload), // gws limits control frames too: a smaller max-frame is core's check (1009)
		CheckUtf8Enabled:   false,                                                 // core.Conn.Handle checks text: 1007
		Recovery:           gws.Recovery,
		Logger:             slogger{},
	})
	return t
}

// Upgrade answers the handshake and starts the connection's read loop.
func (t *Transport) Upgrade(w http.ResponseWriter, r *http.Request) {
	if _, ok := w.(http.Hijacker); !ok {
		http.Error(w, "cannot take over the connection", http.StatusInternalServerError)
		return
	}
	ws, err := t.up.Upgrade(w, r)
	if err != nil {
		return // gws answered the client and closed the socket
	}
	l := &link{t: t, ws: ws, nc: ws.NetConn()}
	ws.Session().Store(linkKey, l)
	l.start(t.hub.Open(l))
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer func() { // gws v1.8.9 panics on some malformed lengths: close this connection, not the server
			if recover() != nil {
				t.hub.Stats().CountClose(core.CloseProtocolError)
				l.Abort()
				t.hub.Closed(l.c)
			}
		}()
		ws.ReadLoop()
	}()
}

// Close waits for every read loop and write job to end; the hub's Drain
// closes the connections first.
func (t *Transport) Close() error {
	t.cancel()
	t.wg.Wait()
	return nil
}

// slogger routes gws's logger to log/slog.
type slogger struct{}

func (slogger) Error(v ...any) { slog.Error(fmt.Sprint(v...), "lib", "gws") }
