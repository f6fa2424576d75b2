package server

import (
	"net/http"
	"slices"
)

// gate decides whether an upgrade request may become a connection: draining
// and over max-conns answer 503, an Origin off the allow-list 403. A request
// without Origin (not a browser) passes.
func (s *Server) gate(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ws" {
		http.NotFound(w, r)
		return
	}
	if !s.ready.Load() {
		s.metrics.rejected.WithLabelValues("draining").Inc()
		http.Error(w, "server is draining", http.StatusServiceUnavailable)
		return
	}
	if s.cfg.MaxConns > 0 && s.hub.Stats().Conns.Load() >= int64(s.cfg.MaxConns) {
		s.metrics.rejected.WithLabelValues("max_conns").Inc()
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && len(s.cfg.AllowedOrigins) > 0 && !slices.Contains(s.cfg.AllowedOrigins, o) {
		s.metrics.rejected.WithLabelValues("origin").Inc()
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	s.transport.Upgrade(w, r)
}
