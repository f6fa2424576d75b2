package report

import (
	"math"
	"sort"

	"github.com/gpush/gpush/harness"
	"github.com/gpush/gpush/variants"
)

// Scenario names, in the order the summary shows them.
var scenarios = []string{"idle", "fanout", "flood", "split", "private", "churn", "batch", "storm"}

// production is the variant the targets are about.
var production = variants.Default

// axes reads a variant's axes from the variants package; a name it does not
// know (an old result) has none.
func axes(v string) variants.Axes { a, _ := variants.AxesOf(v); return a }

// isPeer reports whether a variant is a peer: a transport built on
// another library (gws, nbio) or another server (Centrifugo).
func isPeer(v string) bool { return axes(v).Peer() || v == harness.Centrifugo }

// isFloor reports whether a variant is the floor server.
func isFloor(v string) bool { return v == harness.Floor }

func isBatched(v string) bool   { return axes(v).Policy == "batched" }
func isImmediate(v string) bool { return axes(v).Policy == "immediate" }
func isEpoll(v string) bool     { return axes(v).Transport == "epoll" }

// cell is the runs of one measurement: the rows of one scenario, variant
// and case.
type cell struct {
	Scenario, Variant, Case string
	Params                  map[string]float64
	Config                  map[string]string
	Rows                    []harness.Row
}

// stat is a figure's median over the runs that measured it, and its
// spread.
type stat struct {
	Med, Min, Max float64
	N             int // runs with the figure
}

// statOf summarises vs; ok is false when vs is empty.
func statOf(vs []float64) (stat, bool) {
	if len(vs) == 0 {
		return stat{}, false
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	m := len(s) / 2
	med := s[m]
	if len(s)%2 == 0 {
		med = (s[m-1] + s[m]) / 2
	}
	return stat{Med: med, Min: s[0], Max: s[len(s)-1], N: len(s)}, true
}

// stat summarises one figure over the cell's runs; absent in every run
// means not measured.
func (c *cell) stat(fig string) (stat, bool) {
	var vs []float64
	for _, r := range c.Rows {
		if v, ok := r.Figures[fig]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			vs = append(vs, v)
		}
	}
	return statOf(vs)
}

// param is one of the cell's parameters, NaN when absent.
func (c *cell) param(k string) float64 {
	if v, ok := c.Params[k]; ok {
		return v
	}
	return math.NaN()
}

// runs lists the run numbers of the cell's rows.
func (c *cell) runs() []int {
	rs := make([]int, 0, len(c.Rows))
	for _, r := range c.Rows {
		rs = append(rs, r.Run)
	}
	sort.Ints(rs)
	return rs
}

// xyStat is one point of a curve: x and the summary of y there.
type xyStat struct {
	X float64
	Y stat
}

// points summarises y over the runs' idle points, per connection count.
func (c *cell) points(y func(harness.Point) float64) []xyStat {
	byX := map[float64][]float64{}
	for _, r := range c.Rows {
		for _, p := range r.Points {
			byX[p.Conns] = append(byX[p.Conns], y(p))
		}
	}
	out := make([]xyStat, 0, len(byX))
	for x, vs := range byX {
		s, _ := statOf(vs)
		out = append(out, xyStat{X: x, Y: s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].X < out[j].X })
	return out
}

// data is the rows of one run id, grouped into cells.
type data struct {
	rows  []harness.Row
	cells map[string][]*cell // scenario -> cells, by variant then case
}

// newData groups rows by scenario, variant and case.
func newData(rows []harness.Row) *data {
	d := &data{rows: rows, cells: map[string][]*cell{}}
	index := map[[3]string]*cell{}
	for _, r := range rows {
		k := [3]string{r.Scenario, r.Variant, r.Case}
		c := index[k]
		if c == nil {
			c = &cell{Scenario: r.Scenario, Variant: r.Variant, Case: r.Case, Params: r.Params, Config: r.Config}
			index[k] = c
			d.cells[r.Scenario] = append(d.cells[r.Scenario], c)
		}
		c.Rows = append(c.Rows, r)
	}
	for _, cs := range d.cells {
		sort.SliceStable(cs, func(i, j int) bool {
			if cs[i].Variant != cs[j].Variant {
				return variantLess(cs[i].Variant, cs[j].Variant)
			}
			return paramsLess(cs[i].Params, cs[j].Params, cs[i].Case, cs[j].Case)
		})
	}
	return d
}

// scenarioNames lists the scenarios with rows: the known ones in their
// order, then any others by name.
func (d *data) scenarioNames() []string {
	var names []string
	known := map[string]bool{}
	for _, s := range scenarios {
		known[s] = true
		if len(d.cells[s]) > 0 {
			names = append(names, s)
		}
	}
	var other []string
	for s := range d.cells {
		if !known[s] {
			other = append(other, s)
		}
	}
	sort.Strings(other)
	return append(names, other...)
}

// where lists a scenario's cells that satisfy keep (all when keep is nil).
func (d *data) where(scenario string, keep func(*cell) bool) []*cell {
	var out []*cell
	for _, c := range d.cells[scenario] {
		if keep == nil || keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// variants lists the variants with rows in a scenario (every scenario when
// scenario is empty), in report order.
func (d *data) variants(scenario string) []string {
	seen := map[string]bool{}
	var vs []string
	for s, cs := range d.cells {
		if scenario != "" && s != scenario {
			continue
		}
		for _, c := range cs {
			if !seen[c.Variant] {
				seen[c.Variant] = true
				vs = append(vs, c.Variant)
			}
		}
	}
	sort.Slice(vs, func(i, j int) bool { return variantLess(vs[i], vs[j]) })
	return vs
}

// cases lists a scenario's cases, ordered by their parameters.
func (d *data) cases(scenario string) []string {
	seen := map[string]bool{}
	var cs []*cell
	for _, c := range d.cells[scenario] {
		if !seen[c.Case] {
			seen[c.Case] = true
			cs = append(cs, c)
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return paramsLess(cs[i].Params, cs[j].Params, cs[i].Case, cs[j].Case) })
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Case
	}
	return out
}

// cell is the cell of a scenario, variant and case, or nil.
func (d *data) cell(scenario, variant, cs string) *cell {
	for _, c := range d.cells[scenario] {
		if c.Variant == variant && c.Case == cs {
			return c
		}
	}
	return nil
}

// variantLess orders gpush's own variants, grouped by their axes
// (transport, registry, policy), then the library peers, Centrifugo, and
// the floor last.
func variantLess(a, b string) bool {
	if ka, kb := kindRank(a), kindRank(b); ka != kb {
		return ka < kb
	}
	xa, xb := axes(a), axes(b)
	for _, p := range [][2]string{{xa.Transport, xb.Transport}, {xa.Registry, xb.Registry}, {xa.Policy, xb.Policy}} {
		if p[0] != p[1] {
			return p[0] < p[1]
		}
	}
	return a < b
}

// kindRank orders the kinds of server: ours, library peers, server peers,
// the floor.
func kindRank(v string) int {
	switch {
	case isFloor(v):
		return 3
	case v == harness.Centrifugo:
		return 2
	case isPeer(v):
		return 1
	}
	return 0
}

// paramsLess orders cases by their parameters, numerically, key by key in
// name order; the case strings break ties.
func paramsLess(a, b map[string]float64, ca, cb string) bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		va, oka := a[k]
		vb, okb := b[k]
		if oka != okb {
			return !oka
		}
		if va != vb {
			return va < vb
		}
	}
	return ca < cb
}
