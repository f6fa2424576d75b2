package harness

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Profile sizes every scenario.
type Profile struct {
	Name     string
	Window   time.Duration // push window of each traffic measurement
	Baseline time.Duration // idle window before it, for the syscall baseline
	Drain    time.Duration // longest wait for deliveries after the window
	Idle     []int         // idle: connection counts of the ramp
	Fanout   []Load
	Flood    Load
	Split    Load // Attackers beside Conns victims
	Private  Load // Conns users
	Churn    Load
	Batch    Load
	Storm    Load // Conns clients dropped at once, recovering with history on
	// Cluster: PerNode connections on each of 1, 2 and 3 nodes
	// (ClusterNodes), each total on fewer nodes too, and Conns in total
	// for private pushes; opt-in: -scenarios cluster (clusterJobs)
	Cluster ClusterLoad
	FlushMs []int // batch: the flush intervals
}

// ClusterLoad sizes the cluster scenario.
type ClusterLoad struct {
	Load
	PerNode int // connections on each node of the per-node cases
}

// Load is one traffic case.
type Load struct {
	Conns     int
	Topics    int     // topics; each connection subscribes to all of them
	Size      int     // payload bytes
	Rate      float64 // pushes per second, offered
	Attackers int     // split: half-frame holders
	EveryMs   int     // split: one attacker byte per this many ms
	Churn     float64 // churn: cycles per second
}

// Profiles are the built-in sizes: full for make bench (< 60 min), quick
// for make bench-quick (< 3 min), tiny for the harness's own test.
var Profiles = map[string]Profile{
	"full": {
		Name: "full", Window: 3 * time.Second, Baseline: time.Second, Drain: 10 * time.Second,
		Idle: []int{1000, 5000, 10000, 15000},
		// every fan-out case offers 200,000 deliveries a second
		Fanout: []Load{
			{Conns: 1000, Topics: 1, Size: 64, Rate: 200},
			{Conns: 1000, Topics: 1, Size: 512, Rate: 200},
			{Conns: 10000, Topics: 1, Size: 64, Rate: 20},
			{Conns: 10000, Topics: 1, Size: 512, Rate: 20},
		},
		// 4,000 frames per connection per second (40 per 10 ms flush) and a
		// fan-out of 1,000 per push, so that the push API is not most of the
		// cost: a flood measures the server at saturation
		Flood:   Load{Conns: 1000, Topics: 10, Size: 32, Rate: 4000},
		Split:   Load{Conns: 1000, Topics: 1, Size: 64, Rate: 100, Attackers: 1000, EveryMs: 100},
		Private: Load{Conns: 5000, Size: 64, Rate: 2000},
		Churn:   Load{Conns: 1000, Topics: 1, Size: 64, Rate: 200, Churn: 200},
		Batch:   Load{Conns: 500, Topics: 1, Size: 64, Rate: 1000},
		Storm:   Load{Conns: 5000, Topics: 1, Size: 64, Rate: 100},
		// 1,000 subscribers per node (the latency target's scale), each total
		// also on fewer nodes (3,000 on 1 and 3: the CPU ratio target's); 19
		// pushes a second (57,000 deliveries at 3,000), so that the machine
		// keeps headroom with three nodes, NATS and the generator on 2 cores;
		// 52.6 ms apart, so that successive pushes meet every phase of the
		// 10 ms flush beat (at 20 a second, 5 beats apart, every push of a run
		// waited the same part of the interval, and a run's p99 was a draw)
		Cluster: ClusterLoad{Load: Load{Conns: 3000, Topics: 1, Size: 64, Rate: 19}, PerNode: 1000},
		FlushMs: []int{1, 5, 10, 50},
	},
	"quick": {
		Name: "quick", Window: 700 * time.Millisecond, Baseline: 200 * time.Millisecond, Drain: 3 * time.Second,
		Idle:    []int{200, 500, 1000},
		Fanout:  []Load{{Conns: 300, Topics: 1, Size: 64, Rate: 200}},
		Flood:   Load{Conns: 100, Topics: 5, Size: 32, Rate: 1000},
		Split:   Load{Conns: 200, Topics: 1, Size: 64, Rate: 100, Attackers: 200, EveryMs: 50},
		Private: Load{Conns: 300, Size: 64, Rate: 300},
		Churn:   Load{Conns: 200, Topics: 1, Size: 64, Rate: 100, Churn: 50},
		Batch:   Load{Conns: 100, Topics: 1, Size: 64, Rate: 500},
		Storm:   Load{Conns: 500, Topics: 1, Size: 64, Rate: 100},
		Cluster: ClusterLoad{Load: Load{Conns: 300, Topics: 1, Size: 64, Rate: 200}, PerNode: 100},
		FlushMs: []int{1, 10},
	},
	"tiny": {
		Name: "tiny", Window: 300 * time.Millisecond, Baseline: 100 * time.Millisecond, Drain: 10 * time.Second,
		Idle:    []int{20, 40, 60},
		Fanout:  []Load{{Conns: 20, Topics: 1, Size: 64, Rate: 100}},
		Flood:   Load{Conns: 10, Topics: 3, Size: 32, Rate: 300},
		Split:   Load{Conns: 20, Topics: 1, Size: 64, Rate: 50, Attackers: 10, EveryMs: 20},
		Private: Load{Conns: 20, Size: 64, Rate: 100},
		Churn:   Load{Conns: 20, Topics: 1, Size: 64, Rate: 50, Churn: 20},
		Batch:   Load{Conns: 10, Topics: 1, Size: 64, Rate: 200},
		Storm:   Load{Conns: 20, Topics: 1, Size: 64, Rate: 50},
		Cluster: ClusterLoad{Load: Load{Conns: 30, Topics: 1, Size: 64, Rate: 100}, PerNode: 10},
		FlushMs: []int{1, 10},
	},
}

// Scenarios in the order a run measures them.
var Scenarios = []string{"idle", "fanout", "flood", "split", "private", "churn", "batch", "storm"}

// A job is one measurement: one scenario case against one variant.
type job struct {
	run      int
	scenario string
	variant  string
	load     Load
	flushMs  int  // batch only
	nodes    int  // cluster only
	private  bool // cluster: private pushes to users spread over the nodes
	remote   bool // cluster: every connection on the last node, reached through NATS only
}

// caseName is the sorted parameter string of a job's rows.
func caseName(params map[string]float64) string {
	keys := slices.Sorted(maps.Keys(params))
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s=%g", k, params[k])
	}
	return s
}
