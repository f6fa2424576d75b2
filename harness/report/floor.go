package report

import (
	"fmt"
	"math"

	"github.com/gpush/gpush/harness"
)

// Distances to the floor the production variant must keep (issue 15).
const (
	floorIdleMax   = 1.5 // idle heap+stack per connection, × the floor's
	floorFloodMax  = 1.5 // flood CPU per delivery, × the floor's
	floorFanoutMax = 1.2 // fan-out p99 at 10,000 subscribers, × the floor's
)

// minScale is the smallest case of a scenario its targets apply to: below
// it, a figure shows what the harness did, not what the server does (a
// slope over a few hundred connections, a flood that never saturates, a
// p99 from a few hundred samples), and the summary says "not judged at
// this scale" instead of met or missed.
var minScale = map[string]struct {
	key string
	min float64
}{
	"idle":    {"conns_max", 4000},
	"fanout":  {"conns", fanoutTargetConns},
	"flood":   {"conns", 1000},
	"split":   {"conns", 500},
	"private": {"users", 1000},
}

// gate marks m not judged when its case is below its scenario's smallest.
func gate(m *mark) {
	if m.at == nil {
		return
	}
	sc, ok := minScale[m.at.Scenario]
	if !ok {
		return
	}
	if v := m.at.param(sc.key); v < sc.min { // false for an absent parameter (NaN): a failed job is "not measured"
		m.Small = true
		m.Why = fmt.Sprintf("applies from %s=%s; this case has %s", sc.key, num(sc.min), num(v))
	}
}

// fanoutGap is the mark of a fan-out target no case at 10,000 connections
// measured: not judged when the run's fan-out was smaller, else not
// measured.
func fanoutGap(d *data, target, subj, why string) mark {
	m := unmeasured(target, subj, why)
	largest := math.NaN()
	for _, c := range d.cells["fanout"] {
		if v := c.param("conns"); math.IsNaN(largest) || v > largest {
			largest = v
		}
	}
	if !math.IsNaN(largest) && largest < fanoutTargetConns {
		m.Small = true
		m.Why = fmt.Sprintf("applies at conns=%s; this run's largest fan-out is %s", num(fanoutTargetConns), num(largest))
	}
	return m
}

// floorTargets: the production variant within a factor of the floor
// measured in the same run and case.
func floorTargets(d *data) []mark {
	const fanout = "fanout conns=10000: lat_p99_ms ≤ 1.2× floor's"
	ms := floorMarks(d, "idle", harness.FigHeapStackPerConn, floorIdleMax, "idle: heapstack_per_conn ≤ 1.5× floor's", nil)
	ms = append(ms, floorMarks(d, "flood", harness.FigCPUPerDelivery, floorFloodMax, "flood: cpu_us_per_delivery ≤ 1.5× floor's", nil)...)
	big := func(c *cell) bool { return c.param("conns") == fanoutTargetConns }
	if len(d.where("fanout", func(c *cell) bool { return c.Variant == production && big(c) })) == 0 {
		return append(ms, fanoutGap(d, fanout, production, "no fanout rows at conns=10000"))
	}
	return append(ms, floorMarks(d, "fanout", harness.FigLatP99, floorFanoutMax, fanout, big)...)
}

// floorMarks compares the production variant's figure with the floor's,
// case by case, among the cases keep allows (all when nil).
func floorMarks(d *data, scenario, fig string, limit float64, target string, keep func(*cell) bool) []mark {
	prod := d.where(scenario, func(c *cell) bool { return c.Variant == production && (keep == nil || keep(c)) })
	if len(prod) == 0 {
		return []mark{unmeasured(target, production, "no "+scenario+" rows")}
	}
	var ms []mark
	for _, pc := range prod {
		m := mark{Target: target, Subject: subject(pc), Limit: limit, Cmp: atMost, Unit: "×", at: pc}
		if r, ok := floorRatio(d, pc, fig); ok {
			m.Value, m.Measured = r, true
		} else {
			m.Why = "no floor " + fig + " in this case"
		}
		ms = append(ms, m)
	}
	return ms
}

// floorRatio is a cell's figure over the floor's in the same scenario and
// case; false when either is absent or the floor's is not positive.
func floorRatio(d *data, c *cell, fig string) (float64, bool) {
	f := d.cell(c.Scenario, harness.Floor, c.Case)
	if f == nil {
		return 0, false
	}
	fs, fok := f.stat(fig)
	cs, cok := c.stat(fig)
	if !fok || !cok || fs.Med <= 0 {
		return 0, false
	}
	return cs.Med / fs.Med, true
}
