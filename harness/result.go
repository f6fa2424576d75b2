// Package harness measures gpush variants from outside: it starts each
// variant's server as its own process, drives it through real WebSocket
// clients (in separate load-generator processes) and the real push API, and
// samples the server through /proc and its control endpoint. Every run
// becomes one Row in results/raw.jsonl; package report turns the rows into
// plots and a summary.
package harness

import "time"

// Row is one run of one scenario case against one variant: a line of
// results/raw.jsonl. Rows are only ever appended; the report recomputes
// everything from them.
type Row struct {
	Time     time.Time          `json:"time"`
	RunID    string             `json:"run_id"` // one id per bench invocation
	Run      int                `json:"run"`    // repetition, 1..runs
	Profile  string             `json:"profile"`
	Variant  string             `json:"variant"`
	Scenario string             `json:"scenario"` // idle, fanout, flood, split, private, churn, batch
	Case     string             `json:"case"`     // the parameters as "k=v k=v", sorted: rows with equal Scenario+Case compare
	Params   map[string]float64 `json:"params"`
	Config   map[string]string  `json:"config"` // the server's flags for this run
	Machine  Machine            `json:"machine"`
	Figures  map[string]float64 `json:"figures"`          // see the Fig* names
	Points   []Point            `json:"points,omitempty"` // idle: one per connection count
	Notes    []string           `json:"notes,omitempty"`  // anomalies: errors, closes, a generator at its CPU limit
}

// Machine is where a run ran.
type Machine struct {
	GoVersion  string `json:"go_version"`
	Kernel     string `json:"kernel"`
	CPUModel   string `json:"cpu_model"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Hostname   string `json:"hostname"`
}

// Point is the server's state at one connection count of the idle ramp.
type Point struct {
	Conns      float64 `json:"conns"`
	RSSBytes   float64 `json:"rss_bytes"`   // VmRSS after GC + FreeOSMemory
	HeapBytes  float64 `json:"heap_bytes"`  // live heap objects
	StackBytes float64 `json:"stack_bytes"` // goroutine stacks
	Goroutines float64 `json:"goroutines"`
	SockPages  float64 `json:"sock_pages"` // /proc/net/sockstat TCP mem, pages, machine-wide
}

// Figure names. Every figure is a float64; absent means not measured.
const (
	// idle
	FigRSSPerConn        = "rss_per_conn"        // bytes, slope of VmRSS over the ramp
	FigHeapStackPerConn  = "heapstack_per_conn"  // bytes, slope of heap objects + stacks
	FigHeapPerConn       = "heap_per_conn"       // bytes
	FigStackPerConn      = "stack_per_conn"      // bytes
	FigGoroutinesPerConn = "goroutines_per_conn" // slope
	FigSockBytesPerConn  = "sock_bytes_per_conn" // kernel TCP memory slope, bytes (beside, never inside, the figures above)

	// traffic (fanout, flood, split, private, churn, batch)
	FigPushesOffered      = "pushes_offered"      // pushes the generator tried
	FigPushesAccepted     = "pushes_accepted"     // pushes the API accepted
	FigPushErrors         = "push_errors"         // push API errors
	FigExpected           = "expected"            // deliveries the accepted pushes imply
	FigDelivered          = "delivered"           // counted by the clients
	FigDeliveredPerSec    = "delivered_per_s"     // over the measured window
	FigLatP50             = "lat_p50_ms"          // push sent -> frame read, ms
	FigLatP99             = "lat_p99_ms"          //
	FigLatP999            = "lat_p999_ms"         //
	FigLatMax             = "lat_max_ms"          //
	FigWritesPerDelivery  = "writes_per_delivery" // syscw delta minus idle baseline, per delivery
	FigCPUPerDelivery     = "cpu_us_per_delivery" // server CPU time per delivery, us
	FigDeliveriesPerCPU   = "deliveries_per_cpu_s"
	FigCPUPerPush         = "cpu_us_per_push"  // server CPU time per accepted push, us (private: one delivery each)
	FigPushCalls          = "push_calls"       // push API calls made (a batch or a stream is one)
	FigServerCPU          = "server_cpu_s"     // over the window
	FigClientCPU          = "client_cpu_s"     // the generators' own CPU over the window
	FigMachineCPU         = "machine_cpu_util" // whole machine busy fraction, 0..1 (of every core)
	FigServerRSS          = "server_rss_bytes" // at the end of the window
	FigClosed             = "closed"           // client connections the server closed during the run
	FigMisdelivered       = "misdelivered"     // private: frames that reached a user they were not for
	FigOutOfOrder         = "out_of_order"     // frames that arrived before an earlier push
	FigChurnOpsPerSec     = "churn_ops_per_s"  // churn: connect+subscribe+unsubscribe+disconnect cycles per second
	FigReadsPerAttackByte = "reads_per_attack_byte"
	FigRSSPerAttacker     = "rss_per_attacker"        // split: bytes
	FigGoroutinesPerAtk   = "goroutines_per_attacker" // split

	// with history on (-set history-size=N)
	FigHistoryPushes   = "history_pushes"     // pushes kept after the window (idle: after the fill)
	FigHistoryChannels = "history_channels"   // traffic: channels with a sequence after the window
	FigHeapPerKeptPush = "heap_per_kept_push" // idle: live heap per kept push, over KeptChannels channels filled to the size (64-byte payloads)
	FigHeapPerChannel  = "heap_per_channel"   // idle: live heap per channel with a sequence, beside its kept pushes

	// storm: Conns clients dropped at once reconnect with backoff and recover
	FigStormAllDone      = "storm_all_done_s"         // from the drop until the last client recovered (or was told it could not)
	FigStormMedianDone   = "storm_median_done_s"      //
	FigStormRecovered    = "storm_recovered"          // clients answered recovered true that read their replay
	FigStormNotRecovered = "storm_not_recovered"      // clients answered recovered false
	FigStormPeakAccepts  = "storm_peak_accepts_per_s" // reconnect handshakes completed in the busiest 100 ms, per second
	FigStormAttempts     = "storm_attempts"           // reconnect attempts, failed ones included
	FigStormMissing      = "storm_missing"            // accepted pushes the furthest-behind client had not read at the end
)
