// Package nbio is a peer-baseline transport on github.com/lesismal/nbio
// (nbhttp and nbhttp/websocket) in its non-blocking mode: connections live
// in nbio's epoll pollers, client frames are parsed by nbio, and no goroutine
// is kept per idle connection. It is a thin layer over core: nbio reads and
// frames, core decides, and the frames core queued (shared, pre-encoded) go
// out through nbio's non-blocking Conn.Write.
//
// The server's own net/http server accepts the upgrade; nbio takes the
// hijacked socket into its poller with Upgrader.UpgradeAndTransferConnToPoller,
// the pattern of nbio's "nbio_std" server in lesismal/go-websocket-benchmark
// (an nbhttp.Engine without listeners, KeepaliveTime 0,
// ReleaseWebsocketPayload) and of nbio_examples' http_with_other_frameworks.
package nbio

import (
	"context"
	"fmt"
	"net/http"

	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe"
)

// Transport serves WebSocket connections from an nbio engine.
type Transport struct {
	hub    *core.Hub
	engine *nbhttp.Engine
	up     *websocket.Upgrader
	ctx    context.Context // requests' context; Close cancels it
	cancel context.CancelFunc
}

// New starts an nbio engine with nbio's default number of pollers and no
// listener: its connections come from Upgrade.
func New(hub *core.Hub) (*Transport, error) {
	useSlog()
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{hub: hub, ctx: ctx, cancel: cancel}
	t.engine = nbhttp.NewEngine(nbhttp.Config{
		Name:                    "gpush",
		ReleaseWebsocketPayload: true, // payloads go back to nbio's pool after each handler
		SupportServerOnly:       true, // no client task pool
	})
	t.engine.CheckUtf8 = func([]byte) bool { return true } // core.Conn.Handle checks text: 1007
	t.engine.OnOpen(t.opened)
	t.engine.Engine.OnData(t.onData)
	t.engine.Engine.OnWrittenSize(t.onWritten)
	t.up = t.upgrader()
	if err := t.engine.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("nbio transport: %w", err)
	}
	return t, nil
}

// upgrader configures nbio's websocket layer: core enforces the idle timeout
// and checks Origin (the server's gate), nbio the message size.
func (t *Transport) upgrader() *websocket.Upgrader {
	u := websocket.NewUpgrader()
	u.Engine = t.engine
	u.KeepaliveTime = 0                                                            // no read deadline per connection: core's sweep does it
	u.MessageLengthLimit = max(t.hub.Limits().MaxFrame, wsframe.MaxControlPayload) // nbio limits control frames too: a smaller max-frame is core's check (1009)
	u.CheckOrigin = func(*http.Request) bool { return true }
	u.OnMessage(t.onMessage)
	u.SetPingHandler(t.onPing)
	u.SetPongHandler(t.onPong)
	u.SetCloseHandler(t.onCloseFrame)
	u.OnClose(t.onClose)
	return u
}

// Upgrade answers the handshake and moves the socket from the Go runtime's
// poller into nbio's; the HTTP handler goroutine ends here.
func (t *Transport) Upgrade(w http.ResponseWriter, r *http.Request) {
	wsc, err := t.up.UpgradeAndTransferConnToPoller(w, r, nil)
	if err != nil {
		return // nbio answered the client or closed the socket
	}
	l := linkOf(wsc)
	if l == nil { // nbio could not take the socket (not a *net.TCPConn) and serves it blocking
		errBlocking.Do(func() { logError("nbio transport: socket not transferred to the poller; closing it") })
		wsc.Close()
		return
	}
	l.start()
}

// Close stops nbio's pollers and task pool; the hub's Drain closed the
// connections before.
func (t *Transport) Close() error {
	t.cancel()
	t.engine.Stop()
	return nil
}
