// Package memstat reads a process's own memory the way the harness fits it
// per connection: after a forced collection and a return of free memory to
// the OS. gpushd's /debug/gpush/memory and the floor server's both answer
// with it, so the two figures are taken alike.
package memstat

import (
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
)

// Runtime is the process's memory after a forced collection.
type Runtime struct {
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"`  // live heap objects
	StackBytes uint64 `json:"stack_bytes"` // goroutine stacks
	RSSBytes   uint64 `json:"rss_bytes"`   // VmRSS
}

// Read forces a collection, returns free memory to the OS and reads the
// figures. It stops the world: serve it only to callers that may.
func Read() Runtime {
	runtime.GC()
	debug.FreeOSMemory()
	samples := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	rtmetrics.Read(samples)
	return Runtime{
		Goroutines: runtime.NumGoroutine(),
		HeapBytes:  samples[0].Value.Uint64(),
		StackBytes: samples[1].Value.Uint64(),
		RSSBytes:   vmRSS(),
	}
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
