// Package js holds the gpush JavaScript client (gpush.js, a plain ES module
// documented in docs/client.md) and the demo page built on it, embedded so
// that gpushd -demo can serve them. The client's own tests run under Node
// (node --test clients/js/tests), driven by internal/e2e.
package js

import (
	"embed"
	"net/http"
	"path"
	"strings"
)

//go:embed gpush.js demo/index.html demo/demo.js
var files embed.FS

// Demo serves the demo page, for a mux at prefix /demo/: /demo/ is the page,
// /demo/gpush.js the client. wsPort is the WebSocket port the page connects
// to by default, on the host the page was loaded from.
func Demo(wsPort string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /demo/config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte(`{"wsPort":"` + wsPort + `"}`))
	})
	mux.HandleFunc("GET /demo/", serveFile)
	return mux
}

// serveFile answers /demo/<name> with an embedded file: gpush.js from the
// client, everything else from demo/.
func serveFile(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/demo/")
	switch name {
	case "":
		name = "demo/index.html"
	case "gpush.js":
	default:
		name = path.Join("demo", name)
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, files, name)
}
