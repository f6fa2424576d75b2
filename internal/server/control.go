package server

import (
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"

	"github.com/gpush/gpush/pushapi"
)

// MemoryReport is what /debug/gpush/memory answers, after a forced GC and
// a return of free memory to the OS: the figures the harness fits per
// connection.
type MemoryReport struct {
	Conns      int64  `json:"conns"`
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"`  // live heap objects
	StackBytes uint64 `json:"stack_bytes"` // goroutine stacks
	RSSBytes   uint64 `json:"rss_bytes"`   // VmRSS
	Writes     int64  `json:"writes"`
	Deliveries int64  `json:"deliveries"`
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
	runtime.GC()
	debug.FreeOSMemory()
	samples := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	rtmetrics.Read(samples)
	st := s.hub.Stats()
	rep := MemoryReport{
		Conns:      st.Conns.Load(),
		Goroutines: runtime.NumGoroutine(),
		HeapBytes:  samples[0].Value.Uint64(),
		StackBytes: samples[1].Value.Uint64(),
		RSSBytes:   vmRSS(),
		Writes:     st.Writes.Load(),
		Deliveries: st.Deliveries.Load(),

		HistoryChannels: st.HistoryChannels.Load(),
		HistoryPushes:   st.HistoryPushes.Load(),
		HistoryBytes:    st.HistoryBytes.Load(),
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rep)
}

// vmRSS reads VmRSS from /proc/self/status, 0 where there is none.
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
