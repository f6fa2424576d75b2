package server

import (
	"encoding/json"
	"net/http"

	"github.com/gpush/gpush/internal/memstat"
	"github.com/gpush/gpush/pushapi"
)

// MemoryReport is what /debug/gpush/memory answers, after a forced GC and
// a return of free memory to the OS: the figures the harness fits per
// connection.
type MemoryReport struct {
	Conns int64 `json:"conns"`
	memstat.Runtime
	Writes     int64 `json:"writes"`
	Deliveries int64 `json:"deliveries"`
	// History (0 when off): channels with a sequence, pushes kept, their bytes.
	HistoryChannels int64 `json:"history_channels"`
	HistoryPushes   int64 `json:"history_pushes"`
	HistoryBytes    int64 `json:"history_bytes"`
}

// memory answers /debug/gpush/memory with a MemoryReport. It forces a
// collection, so with an API key set it answers only requests that carry
// the key (Authorization: Bearer <key>), as the push API does.
func (s *Server) memory(w http.ResponseWriter, r *http.Request) {
	if key := s.cfg.APIKey; key != "" {
		if !pushapi.BearerKey(r.Header.Get("Authorization"), key) {
			http.Error(w, "missing API key: send Authorization: Bearer <key>", http.StatusUnauthorized)
			return
		}
	}
	mem := memstat.Read()
	st := s.hub.Stats()
	rep := MemoryReport{
		Conns:      st.Conns.Load(),
		Runtime:    mem,
		Writes:     st.Writes.Load(),
		Deliveries: st.Deliveries.Load(),

		HistoryChannels: st.HistoryChannels.Load(),
		HistoryPushes:   st.HistoryPushes.Load(),
		HistoryBytes:    st.HistoryBytes.Load(),
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rep)
}
