package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gpush/gpush/harness"
)

// runInfo is what the summary's header says about its source.
type runInfo struct {
	ID     string   // the run id reported
	AllIDs []string // every run id in the raw file, newest first
	Source string   // the raw file
	Plots  []string // plot files written, relative to the output dir
}

// mainFigures are the figures of a scenario's main table, in order; the
// rest go to a second table.
var mainFigures = map[string][]string{
	"idle": {harness.FigHeapStackPerConn, harness.FigHeapPerConn, harness.FigStackPerConn,
		harness.FigRSSPerConn, harness.FigGoroutinesPerConn, harness.FigSockBytesPerConn},
	"fanout": trafficFigures,
	"flood":  trafficFigures,
	"split": append(append([]string(nil), trafficFigures...),
		harness.FigRSSPerAttacker, harness.FigGoroutinesPerAtk, harness.FigReadsPerAttackByte),
	"private": append(append([]string(nil), trafficFigures...), harness.FigCPUPerPush, harness.FigPushCalls, harness.FigMisdelivered),
	"churn":   append(append([]string(nil), trafficFigures...), harness.FigChurnOpsPerSec),
	"batch":   trafficFigures,
	"storm": {harness.FigStormAllDone, harness.FigStormMedianDone, harness.FigStormRecovered, harness.FigStormNotRecovered,
		harness.FigStormPeakAccepts, harness.FigStormAttempts, harness.FigStormMissing, harness.FigOutOfOrder},
}

// trafficFigures head the table of every scenario that pushes.
var trafficFigures = []string{
	harness.FigDeliveredPerSec, harness.FigLatP50, harness.FigLatP99, harness.FigLatP999, harness.FigLatMax,
	harness.FigWritesPerDelivery, harness.FigCPUPerDelivery, harness.FigDeliveriesPerCPU,
	harness.FigMachineCPU, harness.FigClosed, harness.FigOutOfOrder,
}

// summary renders summary.md.
func summary(d *data, info runInfo) string {
	var b strings.Builder
	writeHeader(&b, d, info)
	writeTargets(&b, targets(d))
	writeHeadToHead(&b, d)
	for _, s := range d.scenarioNames() {
		writeScenario(&b, d, s)
	}
	writeNotes(&b, d)
	writePlotList(&b, info.Plots)
	return b.String()
}

// writeHeader says which run, where it ran, and how to read the tables.
func writeHeader(b *strings.Builder, d *data, info runInfo) {
	fmt.Fprintf(b, "# gpush benchmark summary: %s\n\n", purpose(profiles(d.rows)))
	fmt.Fprintf(b, "- Run id: `%s`", info.ID)
	if p := profiles(d.rows); p != "" {
		fmt.Fprintf(b, " (profile %s)", p)
	}
	fmt.Fprintf(b, ", %d rows", len(d.rows))
	if first, last := timeSpan(d.rows); first != "" {
		fmt.Fprintf(b, ", %s to %s", first, last)
	}
	fmt.Fprintf(b, "\n- Source: `%s`\n", info.Source)
	if len(info.AllIDs) > 1 {
		fmt.Fprintf(b, "- The raw file holds %d run ids; this report uses only the newest, `%s`, and ignores %s.\n",
			len(info.AllIDs), info.ID, quoteList(info.AllIDs[1:]))
	} else {
		fmt.Fprintf(b, "- The raw file holds this run id only.\n")
	}
	for _, m := range machines(d.rows) {
		fmt.Fprintf(b, "- Machine: %s, %d CPUs; kernel %s; %s; GOMAXPROCS %d; host %s\n",
			orDash(m.CPUModel), m.NumCPU, orDash(m.Kernel), orDash(m.GoVersion), m.GOMAXPROCS, orDash(m.Hostname))
	}
	fmt.Fprintf(b, "- Each figure is the median over the runs that measured it, with the spread (min–max) in parentheses when the runs differ; ")
	fmt.Fprintf(b, "\"runs\" lists the repetitions of each line. A dash means not measured.\n\n")
}

// writeTargets marks every target; misses and gaps are shown like the rest.
func writeTargets(b *strings.Builder, ms []mark) {
	met, missed, gaps, small := 0, 0, 0, 0
	for _, m := range ms {
		switch {
		case m.Small:
			small++
		case !m.Measured:
			gaps++
		case m.met():
			met++
		default:
			missed++
		}
	}
	fmt.Fprintf(b, "## Targets\n\n%d met, %d missed, %d not measured, %d not judged at this scale.\n\n", met, missed, gaps, small)
	b.WriteString("| Target | Subject | Value | Limit | Result | Margin |\n|---|---|---|---|---|---|\n")
	for _, m := range ms {
		value, limit := "—", "—"
		if m.Measured && !m.Small {
			value = num(m.Value) + m.Unit
			limit = m.Cmp.String() + " " + num(m.Limit) + m.Unit
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n",
			cellText(m.Target), cellText(m.Subject), value, limit, m.result(), cellText(m.margin()))
	}
	b.WriteString("\n")
}

// writeScenario writes a scenario's tables: the main figures, then every
// other figure its rows carry.
func writeScenario(b *strings.Builder, d *data, scenario string) {
	cells := d.cells[scenario]
	fmt.Fprintf(b, "## %s\n\n", scenario)
	present := presentFigures(cells)
	var head, rest []string
	inHead := map[string]bool{}
	for _, f := range mainFigures[scenario] {
		inHead[f] = true
		if present[f] {
			head = append(head, f)
		}
	}
	for f := range present {
		if !inHead[f] {
			rest = append(rest, f)
		}
	}
	sort.Strings(rest)
	if len(head) == 0 && len(rest) == 0 {
		b.WriteString("No figures measured.\n\n")
		return
	}
	if len(head) == 0 {
		head, rest = rest, nil
	}
	writeTable(b, d, cells, head, true)
	if len(rest) > 0 {
		fmt.Fprintf(b, "More %s figures:\n\n", scenario)
		writeTable(b, d, cells, rest, false)
	}
}

// presentFigures is the set of figures some row of the cells carries.
func presentFigures(cells []*cell) map[string]bool {
	present := map[string]bool{}
	for _, c := range cells {
		for _, r := range c.Rows {
			for f := range r.Figures {
				present[f] = true
			}
		}
	}
	return present
}

// writeTable writes one line per cell with the given figures; with
// ratios, each figure the floor measured in the scenario is followed by a
// "× floor" column: the cell's median over the floor's in the same case.
func writeTable(b *strings.Builder, d *data, cells []*cell, figs []string, ratios bool) {
	withFloor := map[string]bool{}
	if ratios && len(cells) > 0 {
		withFloor = floorFigures(d, cells[0].Scenario)
	}
	b.WriteString("| Variant | Case | runs |")
	cols := 0
	for _, f := range figs {
		b.WriteString(" " + f + " |")
		cols++
		if withFloor[f] {
			b.WriteString(" × floor |")
			cols++
		}
	}
	b.WriteString("\n|---|---|---|" + strings.Repeat("---|", cols) + "\n")
	for _, c := range cells {
		fmt.Fprintf(b, "| %s | %s | %s |", cellText(variantLabel(c.Variant)), cellText(c.Case), runList(c.runs()))
		for _, f := range figs {
			b.WriteString(" " + statText(c, f) + " |")
			if withFloor[f] {
				b.WriteString(" " + ratioText(d, c, f) + " |")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// statText is a cell's figure as a table shows it, a dash when absent.
func statText(c *cell, fig string) string {
	if s, ok := c.stat(fig); ok {
		return spread(s)
	}
	return "—"
}

// ratioText is a cell's figure over the floor's, "—" when either is
// absent or the floor's is zero.
func ratioText(d *data, c *cell, fig string) string {
	if r, ok := floorRatio(d, c, fig); ok {
		return num(r) + "×"
	}
	return "—"
}

// noRatio are figures a ratio to the floor says nothing about: counts of
// anomalies and the machine's load.
var noRatio = map[string]bool{
	harness.FigClosed: true, harness.FigOutOfOrder: true, harness.FigMisdelivered: true, harness.FigMachineCPU: true,
	harness.FigGoroutinesPerConn: true, harness.FigPushCalls: true,
}

// floorFigures are the figures of a scenario the floor measured (and a
// ratio means something for).
func floorFigures(d *data, scenario string) map[string]bool {
	out := map[string]bool{}
	for _, c := range d.where(scenario, func(c *cell) bool { return isFloor(c.Variant) }) {
		for _, r := range c.Rows {
			for f := range r.Figures {
				out[f] = !noRatio[f]
			}
		}
	}
	return out
}

// variantLabel marks the floor and the external peer in tables (gws and
// nbio are named as peers by their variant names).
func variantLabel(v string) string {
	switch {
	case isFloor(v):
		return v + " (floor)"
	case v == harness.Centrifugo:
		return v + " (peer)"
	}
	return v
}

// purpose is the summary's first line: the profile and what a run of it
// is for.
func purpose(profile string) string {
	switch profile {
	case "full":
		return "profile full, at the scale the targets are judged (the reference run is make bench: every scenario and variant, 3 runs)"
	case "quick":
		return "profile quick, a smoke run that proves the harness works (small scale: not a result; targets below their scale are not judged)"
	case "tiny":
		return "profile tiny, the harness's own test (not a result)"
	case "":
		return "rows without a profile"
	}
	return "profile " + profile
}

// writeNotes lists the anomalies the rows recorded.
func writeNotes(b *strings.Builder, d *data) {
	var lines []string
	for _, s := range d.scenarioNames() {
		for _, c := range d.cells[s] {
			for _, r := range c.Rows {
				for _, n := range r.Notes {
					lines = append(lines, fmt.Sprintf("- %s, %s, %s, run %d: %s", s, c.Variant, orDash(c.Case), r.Run, n))
				}
			}
		}
	}
	b.WriteString("## Notes\n\n")
	if len(lines) == 0 {
		b.WriteString("The rows recorded no anomalies.\n\n")
		return
	}
	b.WriteString(strings.Join(lines, "\n") + "\n\n")
}

// writePlotList links the plots written.
func writePlotList(b *strings.Builder, plots []string) {
	b.WriteString("## Plots\n\n")
	if len(plots) == 0 {
		b.WriteString("No plots: no scenario with rows to draw.\n")
		return
	}
	for _, p := range plots {
		fmt.Fprintf(b, "- [%s](%s)\n", p, p)
	}
}

// runList is "1, 2, 3".
func runList(rs []int) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = strconv.Itoa(r)
	}
	return strings.Join(s, ", ")
}

// machines lists the distinct machines of the rows, in order of first
// appearance.
func machines(rows []harness.Row) []harness.Machine {
	seen := map[harness.Machine]bool{}
	var ms []harness.Machine
	for _, r := range rows {
		if !seen[r.Machine] {
			seen[r.Machine] = true
			ms = append(ms, r.Machine)
		}
	}
	return ms
}

// profiles lists the distinct profile names of the rows.
func profiles(rows []harness.Row) string {
	seen := map[string]bool{}
	var ps []string
	for _, r := range rows {
		if r.Profile != "" && !seen[r.Profile] {
			seen[r.Profile] = true
			ps = append(ps, r.Profile)
		}
	}
	return strings.Join(ps, ", ")
}

// timeSpan is the first and last row time, UTC.
func timeSpan(rows []harness.Row) (string, string) {
	var first, last string
	for _, r := range rows {
		if r.Time.IsZero() {
			continue
		}
		t := r.Time.UTC().Format("2006-01-02 15:04:05Z")
		if first == "" || t < first {
			first = t
		}
		if t > last {
			last = t
		}
	}
	return first, last
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
