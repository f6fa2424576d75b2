package variants

import (
	"errors"
	"net"
	"net/http"

	"github.com/gpush/gpush/core"
)

// upgrader is a transport that takes over upgrade requests net/http read:
// gorilla, gws and nbio.
type upgrader interface {
	Upgrade(w http.ResponseWriter, r *http.Request)
	Close() error
}

// viaHTTP serves an upgrader's WebSocket port with net/http: one goroutine
// per socket until its upgrade, which the upgrader takes over.
type viaHTTP struct{ upgrader }

// Serve serves ln with net/http by g's rules: only g.Path (404), then
// g.Admit; every answer but a completed upgrade closes its connection
// (Connection: close), so a refused client holds no socket outside
// max-conns. Once ln is closed it closes the requests still being read and
// returns nil; hijacked connections are the hub's.
func (v viaHTTP) Serve(ln net.Listener, g core.Gate) error {
	srv := &http.Server{Handler: v.handler(g), ReadHeaderTimeout: g.Timeout, IdleTimeout: g.Timeout,
		MaxHeaderBytes: g.MaxHeaderBytes}
	err := srv.Serve(ln)
	srv.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (v viaHTTP) handler(g core.Gate) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close") // a completed upgrade is hijacked and writes its own headers
		if r.URL.Path != g.Path {
			if g.Failed != nil {
				g.Failed(core.HandshakeNotFound)
			}
			http.NotFound(w, r)
			return
		}
		if status, text := g.Admit(r.Header.Get("Origin")); status != 0 {
			http.Error(w, text, status)
			return
		}
		defer g.Done()
		v.Upgrade(w, r)
	}
}
