package report

import (
	"fmt"
	"strings"

	"github.com/gpush/gpush/harness"
)

// headFigures are the figures a design review reads first, per scenario:
// every one of them is better when lower.
var headFigures = []struct{ scenario, fig string }{
	{"idle", harness.FigHeapStackPerConn},
	{"idle", harness.FigHeapPerConn},
	{"flood", harness.FigCPUPerDelivery},
	{"flood", harness.FigWritesPerDelivery},
	{"fanout", harness.FigLatP99},
	{"fanout", harness.FigCPUPerDelivery},
	{"split", harness.FigLatP99},
	{"split", harness.FigRSSPerAttacker},
	{"private", harness.FigCPUPerPush},
}

// headRow is one figure of one case: the production variant beside the
// floor, the best library peer and Centrifugo.
type headRow struct {
	label                 string
	prod, floor, peer, cf *stat
	peerName              string
}

// headToHead lists, for every case the production variant measured in a
// head figure, that figure beside the floor's, the best library peer's and
// Centrifugo's in the same case.
func headToHead(d *data) []headRow {
	var rows []headRow
	for _, h := range headFigures {
		for _, pc := range d.where(h.scenario, func(c *cell) bool { return c.Variant == production }) {
			p, ok := pc.stat(h.fig)
			if !ok {
				continue
			}
			r := headRow{label: fmt.Sprintf("%s %s @ %s", h.scenario, h.fig, pc.Case), prod: &p}
			r.floor = statAt(d.cell(h.scenario, harness.Floor, pc.Case), h.fig)
			r.cf = statAt(d.cell(h.scenario, harness.Centrifugo, pc.Case), h.fig)
			r.peerName, r.peer = bestPeer(d, h.scenario, pc.Case, h.fig)
			rows = append(rows, r)
		}
	}
	return rows
}

// bestPeer is the library peer (not Centrifugo) with the lowest median of
// fig in the case; "" when none measured it.
func bestPeer(d *data, scenario, cs, fig string) (string, *stat) {
	var name string
	var best *stat
	for _, v := range d.variants(scenario) {
		if !isPeer(v) || v == harness.Centrifugo {
			continue
		}
		if s := statAt(d.cell(scenario, v, cs), fig); s != nil && (best == nil || s.Med < best.Med) {
			name, best = v, s
		}
	}
	return name, best
}

// writeHeadToHead renders the head-to-head table; nothing when the run
// has no production rows.
func writeHeadToHead(b *strings.Builder, d *data) {
	rows := headToHead(d)
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "## Head to head\n\n%s beside the floor, the best library peer and Centrifugo, case by case (medians; lower is better in every row).\n\n", production)
	b.WriteString("| Figure @ case | " + production + " | floor | × floor | best library peer | × peer | Centrifugo | × Centrifugo |\n")
	b.WriteString("|---|---:|---:|---:|---|---:|---:|---:|\n")
	for _, r := range rows {
		peer := "—"
		if r.peer != nil {
			peer = fmt.Sprintf("%s (%s)", num(r.peer.Med), r.peerName)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", cellText(r.label), num(r.prod.Med),
			medText(r.floor), overText(r.prod, r.floor), peer, overText(r.prod, r.peer), medText(r.cf), overText(r.prod, r.cf))
	}
	b.WriteString("\n")
}

// medText is a stat's median, or a dash.
func medText(s *stat) string {
	if s == nil {
		return "—"
	}
	return num(s.Med)
}

// overText is ours over theirs, or a dash when either is missing or
// theirs is not positive.
func overText(ours, theirs *stat) string {
	if ours == nil || theirs == nil || theirs.Med <= 0 {
		return "—"
	}
	return num(ours.Med/theirs.Med) + "×"
}
