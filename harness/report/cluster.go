package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gpush/gpush/harness"
)

// Cluster targets (issue 13).
const (
	clusterPerNode      = 1000 // subscribers per node the latency target is about
	clusterLatSlackMs   = 10   // ms the p99 may exceed the flush interval by
	clusterLatRatioMax  = 1.2  // p99 at 1,000 per node over one node's at the same total
	clusterCPURatioMax  = 1.5  // CPU per delivery on three nodes over one node's, same total
	clusterCPUConns     = 3000 // the smallest same total the CPU ratio is judged at
	defaultFlushMs      = 10   // gpushd's flush interval when a row's config names none
	clusterLatTarget    = "cluster: lat_p99_ms ≤ flush interval + 10 ms at 1,000 subscribers per node"
	clusterLatRatio     = "cluster: lat_p99_ms at 1,000 per node ≤ 1.2× one node's at the same total"
	clusterCPURatio     = "cluster: cpu_us_per_delivery on 3 nodes ≤ 1.5× one node's at the same total"
	clusterNoRows       = "no cluster rows (opt-in: make bench-cluster)"
	clusterNoMultiNodes = "no public cluster rows on more than one node"
)

// clusterTargets: the p99 of a fan-out at 1,000 subscribers per node,
// absolute and against one node carrying the same total on this machine,
// and the CPU per delivery of three nodes against one node's.
func clusterTargets(d *data) []mark {
	multi := d.where("cluster", func(c *cell) bool {
		return c.Variant == production && c.param("private") != 1 && c.param("nodes") > 1
	})
	if len(multi) == 0 {
		why := clusterNoRows
		if len(d.cells["cluster"]) > 0 {
			why = clusterNoMultiNodes
		}
		return []mark{unmeasured(clusterLatTarget, production, why), unmeasured(clusterLatRatio, production, why),
			unmeasured(clusterCPURatio, production, why)}
	}
	var lat, ratio, cpu []mark
	for _, c := range multi {
		lat = append(lat, perNodeGate(clusterLatMark(c), c))
		ratio = append(ratio, perNodeGate(vsOneNode(d, c, harness.FigLatP99, clusterLatRatio, clusterLatRatioMax), c))
		if c.param("nodes") == 3 && c.param("remote") != 1 {
			m := vsOneNode(d, c, harness.FigCPUPerDelivery, clusterCPURatio, clusterCPURatioMax)
			if v := c.param("conns"); v < clusterCPUConns {
				m.Small, m.Why = true, fmt.Sprintf("applies from conns=%s; this case has %s", num(clusterCPUConns), num(v))
			}
			cpu = append(cpu, m)
		}
	}
	if len(cpu) == 0 {
		cpu = append(cpu, unmeasured(clusterCPURatio, production, "no public cluster rows on 3 nodes"))
	}
	return append(append(keepPerNode(lat), keepPerNode(ratio)...), cpu...)
}

// perNode is the subscribers on each node that has any: a remote case
// holds every connection on one node.
func perNode(c *cell) float64 {
	if c.param("remote") == 1 {
		return c.param("conns")
	}
	return c.param("conns") / c.param("nodes")
}

// perNodeGate marks m not judged below 1,000 subscribers per node.
func perNodeGate(m mark, c *cell) mark {
	if v := perNode(c); v < clusterPerNode {
		m.Small, m.Why = true, fmt.Sprintf("applies at %s subscribers per node; this case has %s", num(clusterPerNode), num(v))
	}
	return m
}

// keepPerNode keeps the marks of cases at 1,000 subscribers per node, or
// every mark (all not judged) when the run had none at that scale.
func keepPerNode(ms []mark) []mark {
	var at []mark
	for _, m := range ms {
		if perNode(m.at) == clusterPerNode {
			at = append(at, m)
		}
	}
	if len(at) == 0 {
		return ms
	}
	return at
}

// sharedNote reads the absolute p99 of several nodes on one machine.
const sharedNote = "every node, NATS and the load generator share this machine's cores, so the machine does every node's burst of writes at once: read it beside one node at the same total (the next target) and docs/cluster.md"

// clusterLatMark checks a case's p99 against its flush interval + 10 ms.
func clusterLatMark(c *cell) mark {
	m := check(clusterLatTarget, c, harness.FigLatP99, atMost, flushMs(c)+clusterLatSlackMs, " ms")
	if c.param("remote") != 1 {
		m.Note = sharedNote
	}
	return m
}

// flushMs is the flush interval of a cell's servers, in ms.
func flushMs(c *cell) float64 {
	s, ok := c.Config["flush-interval"]
	if !ok {
		return defaultFlushMs
	}
	if d, err := time.ParseDuration(s); err == nil {
		return float64(d) / float64(time.Millisecond)
	}
	if v, err := strconv.ParseFloat(strings.TrimSuffix(s, "ms"), 64); err == nil {
		return v
	}
	return defaultFlushMs
}

// vsOneNode compares a cluster cell's figure with the one-node cell of the
// same variant and total connections in the run.
func vsOneNode(d *data, c *cell, fig, target string, limit float64) mark {
	m := mark{Target: target, Subject: subject(c), Limit: limit, Cmp: atMost, Unit: "×", at: c}
	one := d.where("cluster", func(o *cell) bool {
		return o.Variant == c.Variant && o.param("nodes") == 1 && o.param("private") != 1 &&
			o.param("conns") == c.param("conns") && o.param("size") == c.param("size") && o.param("rate") == c.param("rate")
	})
	if len(one) == 0 {
		m.Why = "no one-node case with conns=" + num(c.param("conns"))
		return m
	}
	cs, cok := c.stat(fig)
	os, ook := one[0].stat(fig)
	if !cok || !ook || os.Med <= 0 || math.IsNaN(os.Med) {
		m.Why = fig + " absent"
		return m
	}
	m.Value, m.Measured = cs.Med/os.Med, true
	return m
}
