package report

import (
	"fmt"
	"math"

	"github.com/gpush/gpush/harness"
)

// Targets, from the issue.
const (
	idleHeapStackMax    = 1024  // bytes per connection, production variant
	idleHeapStackAim    = 512   //
	idleGoroutinesMax   = 0.01  // goroutines per connection, epoll variants
	floodWritesMax      = 0.05  // write syscalls per delivery, batched variants
	floodPerCPUMin      = 2e6   // deliveries per CPU second, production variant
	floodPerCPUAim      = 3e6   //
	floodVsImmediateMin = 10    // production deliveries per CPU s over an immediate variant's
	fanoutTargetConns   = 10000 // the fan-out case the latency targets are about
	splitRatioMax       = 1.10  // victims' p99 with attackers over without
	privateBatchCPUMax  = 20    // us of server CPU per private push through a batch of 100, delivery included
)

// cmp is how a value must compare with its limit.
type cmp int

const (
	atMost  cmp = iota // value <= limit
	atLeast            // value >= limit
	below              // value < limit
)

func (c cmp) String() string {
	switch c {
	case atLeast:
		return "≥"
	case below:
		return "<"
	}
	return "≤"
}

// mark is one target checked against one subject.
type mark struct {
	Target   string // what is asked
	Subject  string // variant, case
	Value    float64
	Limit    float64
	Cmp      cmp
	Unit     string // after the numbers: " B", " ms", "×"
	Measured bool
	Why      string // when not measured, or not judged
	Small    bool   // the case is below the smallest the target applies to: not judged
	Note     string // after the margin of a measured mark: how to read it
	at       *cell  // the case judged, when there is one
}

// met reports whether a measured mark meets its target.
func (m mark) met() bool {
	switch m.Cmp {
	case atLeast:
		return m.Value >= m.Limit
	case below:
		return m.Value < m.Limit
	}
	return m.Value <= m.Limit
}

// result is the mark's verdict as the summary shows it.
func (m mark) result() string {
	switch {
	case m.Small:
		return "not judged at this scale"
	case !m.Measured:
		return "not measured"
	case m.met():
		return "✅ met"
	}
	return "❌ **MISSED**"
}

// margin says by how much the value meets or misses its limit, and the
// mark's note.
func (m mark) margin() string {
	if !m.Measured || m.Small {
		return m.Why
	}
	if m.Note != "" {
		return m.amount() + "; " + m.Note
	}
	return m.amount()
}

// amount is the distance of a measured value to its limit.
func (m mark) amount() string {
	d := math.Abs(m.Value - m.Limit)
	pct := ""
	if m.Limit != 0 {
		pct = fmt.Sprintf(" (%+.0f%%)", 100*(m.Value/m.Limit-1))
	}
	amount := num(d) + m.Unit
	switch {
	case m.Value == m.Limit:
		return "exactly at the limit"
	case m.Value < m.Limit && m.Cmp != atLeast:
		return amount + " under the limit" + pct
	case m.Value > m.Limit && m.Cmp == atLeast:
		return amount + " over the limit" + pct
	case m.Value > m.Limit:
		return "missed by " + amount + pct
	}
	return "short by " + amount + pct
}

// targets checks every target of the issue against the data.
func targets(d *data) []mark {
	var ms []mark
	ms = append(ms, idleTargets(d)...)
	ms = append(ms, floodTargets(d)...)
	ms = append(ms, fanoutTargets(d)...)
	ms = append(ms, splitTargets(d)...)
	ms = append(ms, privateTargets(d)...)
	ms = append(ms, aheadTargets(d)...)
	ms = append(ms, floorTargets(d)...)
	ms = append(ms, clusterTargets(d)...)
	for i := range ms {
		gate(&ms[i])
	}
	return ms
}

// unmeasured is a target nothing measured.
func unmeasured(target, subject, why string) mark {
	return mark{Target: target, Subject: subject, Why: why}
}

// check marks one figure of a cell against a limit.
func check(target string, c *cell, fig string, how cmp, limit float64, unit string) mark {
	m := mark{Target: target, Subject: subject(c), Limit: limit, Cmp: how, Unit: unit, at: c}
	s, ok := c.stat(fig)
	if !ok {
		m.Why = fig + " absent from the rows"
		return m
	}
	m.Value, m.Measured = s.Med, true
	return m
}

// subject names a cell in a target line.
func subject(c *cell) string {
	if c.Case == "" {
		return c.Variant
	}
	return c.Variant + " @ " + c.Case
}

// idleTargets: the production variant's memory per connection, and no
// goroutine per connection for the epoll variants.
func idleTargets(d *data) []mark {
	const (
		mem  = "idle: heapstack_per_conn ≤ 1024 B"
		aim  = "idle (aim): heapstack_per_conn ≤ 512 B"
		gors = "idle: goroutines_per_conn ≤ 0.01 (epoll-*)"
	)
	var ms []mark
	prod := d.where("idle", func(c *cell) bool { return c.Variant == production })
	if len(prod) == 0 {
		ms = append(ms, unmeasured(mem, production, "no idle rows"), unmeasured(aim, production, "no idle rows"))
	}
	for _, c := range prod {
		ms = append(ms,
			check(mem, c, harness.FigHeapStackPerConn, atMost, idleHeapStackMax, " B"),
			check(aim, c, harness.FigHeapStackPerConn, atMost, idleHeapStackAim, " B"))
	}
	epoll := d.where("idle", func(c *cell) bool { return isEpoll(c.Variant) })
	if len(epoll) == 0 {
		ms = append(ms, unmeasured(gors, "epoll-*", "no idle rows of an epoll variant"))
	}
	for _, c := range epoll {
		ms = append(ms, check(gors, c, harness.FigGoroutinesPerConn, atMost, idleGoroutinesMax, ""))
	}
	return ms
}

// privateTargets: the production variant's server CPU per private push
// through a batch of 100 items, delivery included.
func privateTargets(d *data) []mark {
	const batch = "private: cpu_us_per_push ≤ 20 us through a batch of 100"
	cs := d.where("private", func(c *cell) bool { return c.Variant == production && c.param("batch") == 100 })
	if len(cs) == 0 {
		return []mark{unmeasured(batch, production, "no private rows with batches of 100")}
	}
	var ms []mark
	for _, c := range cs {
		ms = append(ms, check(batch, c, harness.FigCPUPerPush, atMost, privateBatchCPUMax, " us"))
	}
	return ms
}

// floodTargets: few writes per delivery when batched, and the production
// variant's deliveries per CPU second, absolute and against every
// immediate variant.
func floodTargets(d *data) []mark {
	const (
		writes = "flood: writes_per_delivery ≤ 0.05 (batched)"
		perCPU = "flood: deliveries_per_cpu_s ≥ 2,000,000"
		aim    = "flood (aim): deliveries_per_cpu_s ≥ 3,000,000"
		vs     = "flood: deliveries_per_cpu_s ≥ 10× each immediate variant"
	)
	var ms []mark
	batched := d.where("flood", func(c *cell) bool { return isBatched(c.Variant) })
	if len(batched) == 0 {
		ms = append(ms, unmeasured(writes, "*-batched", "no flood rows of a batched variant"))
	}
	for _, c := range batched {
		ms = append(ms, check(writes, c, harness.FigWritesPerDelivery, atMost, floodWritesMax, ""))
	}
	prod := d.where("flood", func(c *cell) bool { return c.Variant == production })
	if len(prod) == 0 {
		return append(ms, unmeasured(perCPU, production, "no flood rows"),
			unmeasured(aim, production, "no flood rows"), unmeasured(vs, production, "no flood rows"))
	}
	for _, c := range prod {
		ms = append(ms,
			check(perCPU, c, harness.FigDeliveriesPerCPU, atLeast, floodPerCPUMin, ""),
			check(aim, c, harness.FigDeliveriesPerCPU, atLeast, floodPerCPUAim, ""))
		ms = append(ms, ratioMarks(d, c)...)
	}
	return ms
}

// ratioMarks compares the production cell's deliveries per CPU second with
// each immediate variant's in the same flood case.
func ratioMarks(d *data, prod *cell) []mark {
	const vs = "flood: deliveries_per_cpu_s ≥ 10× each immediate variant"
	imm := d.where("flood", func(c *cell) bool { return isImmediate(c.Variant) && c.Case == prod.Case })
	if len(imm) == 0 {
		return []mark{unmeasured(vs, subject(prod), "no immediate variant in this case")}
	}
	p, pok := prod.stat(harness.FigDeliveriesPerCPU)
	var ms []mark
	for _, c := range imm {
		m := mark{Target: vs, Subject: production + " vs " + c.Variant + " @ " + c.Case,
			Limit: floodVsImmediateMin, Cmp: atLeast, Unit: "×", at: prod}
		s, ok := c.stat(harness.FigDeliveriesPerCPU)
		switch {
		case !pok || !ok:
			m.Why = "deliveries_per_cpu_s absent"
		case s.Med <= 0:
			m.Why = c.Variant + " delivered nothing per CPU second"
		default:
			m.Value, m.Measured = p.Med/s.Med, true
		}
		ms = append(ms, m)
	}
	return ms
}

// fanoutTargets: at 10,000 connections, immediate p99 no worse than the
// best peer's. (The production variant's p99 there is judged against the
// floor's: floorTargets.)
func fanoutTargets(d *data) []mark {
	const imm = "fanout conns=10000: lat_p99_ms ≤ best peer's (immediate)"
	big := d.where("fanout", func(c *cell) bool { return c.param("conns") == fanoutTargetConns })
	var is []mark
	for _, c := range big {
		if isImmediate(c.Variant) && !isPeer(c.Variant) {
			is = append(is, peerMark(imm, c, big))
		}
	}
	if len(is) == 0 {
		is = append(is, fanoutGap(d, imm, "*-immediate", "no fanout rows at conns=10000 of an immediate variant"))
	}
	return is
}

// peerMark compares a cell's p99 with the best peer's p99 in its case.
func peerMark(target string, c *cell, all []*cell) mark {
	best, peer := math.Inf(1), ""
	for _, p := range all {
		if !isPeer(p.Variant) || p.Case != c.Case {
			continue
		}
		if s, ok := p.stat(harness.FigLatP99); ok && s.Med < best {
			best, peer = s.Med, p.Variant
		}
	}
	if peer == "" {
		return unmeasured(target, subject(c), "no peer measured in this case")
	}
	m := check(target, c, harness.FigLatP99, atMost, best, " ms")
	m.Subject += " vs " + peer
	return m
}

// splitTargets: each variant's victims' p99 with attackers within 10% of
// its p99 without (the floor is a yardstick, not judged).
func splitTargets(d *data) []mark {
	const target = "split: victims' lat_p99_ms with attackers ≤ 1.10× without"
	attacked := d.where("split", func(c *cell) bool { return c.param("attackers") > 0 && !isFloor(c.Variant) })
	if len(attacked) == 0 {
		return []mark{unmeasured(target, "*", "no split rows with attackers")}
	}
	var ms []mark
	for _, a := range attacked {
		m := mark{Target: target, Subject: subject(a), Limit: splitRatioMax, Cmp: atMost, Unit: "×", at: a}
		calm := baseline(d, a)
		as, aok := a.stat(harness.FigLatP99)
		switch {
		case calm == nil:
			m.Why = "no run without attackers to compare with"
		case !aok:
			m.Why = "lat_p99_ms absent with attackers"
		default:
			cs, ok := calm.stat(harness.FigLatP99)
			if !ok || cs.Med <= 0 {
				m.Why = "lat_p99_ms absent without attackers"
				break
			}
			m.Value, m.Measured = as.Med/cs.Med, true
		}
		ms = append(ms, m)
	}
	return ms
}

// baseline finds the split cell of the same variant and parameters as a,
// but without attackers.
func baseline(d *data, a *cell) *cell {
	for _, c := range d.where("split", func(c *cell) bool { return c.Variant == a.Variant && c.param("attackers") == 0 }) {
		same := true
		for k, v := range a.Params {
			if k != "attackers" && c.Params[k] != v {
				same = false
			}
		}
		if same {
			return c
		}
	}
	return nil
}

// aheadTargets: the production variant below every peer in idle memory
// per connection and flood CPU per delivery.
func aheadTargets(d *data) []mark {
	return append(
		aheadOf(d, "idle", harness.FigHeapStackPerConn, " B", "ahead of peers: idle heapstack_per_conn < each peer's"),
		aheadOf(d, "flood", harness.FigCPUPerDelivery, " µs", "ahead of peers: flood cpu_us_per_delivery < each peer's")...)
}

// aheadOf compares the production variant's figure with each peer's in the
// same case of a scenario.
func aheadOf(d *data, scenario, fig, unit, target string) []mark {
	prod := d.where(scenario, func(c *cell) bool { return c.Variant == production })
	if len(prod) == 0 {
		return []mark{unmeasured(target, production, "no "+scenario+" rows")}
	}
	var ms []mark
	for _, pc := range prod {
		peers := d.where(scenario, func(c *cell) bool { return isPeer(c.Variant) && c.Case == pc.Case })
		if len(peers) == 0 {
			ms = append(ms, unmeasured(target, subject(pc), "no peer measured in this case"))
		}
		for _, peer := range peers {
			m := mark{Target: target, Subject: production + " vs " + subject(peer), Cmp: below, Unit: unit, at: pc}
			p, pok := pc.stat(fig)
			s, ok := peer.stat(fig)
			if !pok || !ok {
				m.Why = fig + " absent"
			} else {
				m.Value, m.Limit, m.Measured = p.Med, s.Med, true
			}
			ms = append(ms, m)
		}
	}
	return ms
}
