package report

import (
	"fmt"
	"image/color"
	"maps"
	"slices"
	"strings"

	"github.com/gpush/gpush/harness"
)

// Colours say what a bar or line is: gpush's variants in shades of one
// hue per transport (read from variants.AxesOf), each peer in its own
// colour, the floor in black.
var (
	floorColor  = color.RGBA{0, 0, 0, 255}
	otherColor  = color.RGBA{127, 127, 127, 255}
	peerColors  = map[string]color.RGBA{"gws": {255, 127, 14, 255}, "nbio": {214, 39, 40, 255}, harness.Centrifugo: {148, 103, 189, 255}}
	transShades = map[string][]color.RGBA{
		"epoll":   {{31, 119, 180, 255}, {8, 69, 148, 255}, {107, 174, 214, 255}, {66, 146, 198, 255}, {158, 202, 225, 255}},
		"gorilla": {{44, 160, 44, 255}, {0, 109, 44, 255}, {116, 196, 118, 255}, {161, 217, 155, 255}},
	}
)

// family is the colour group of a variant: "epoll (ours)", "gws (peer)",
// "centrifugo (peer)", "floor".
func family(v string) string {
	switch {
	case isFloor(v):
		return "floor"
	case v == harness.Centrifugo:
		return v + " (peer)"
	case isPeer(v):
		return axes(v).Transport + " (peer)"
	case axes(v).Transport != "":
		return axes(v).Transport + " (ours)"
	}
	return v
}

// familyColor is the main colour of a variant's family.
func familyColor(v string) color.RGBA {
	a := axes(v)
	switch {
	case isFloor(v):
		return floorColor
	case v == harness.Centrifugo:
		return peerColors[v]
	case isPeer(v):
		return peerColors[a.Transport]
	case len(transShades[a.Transport]) > 0:
		return transShades[a.Transport][0]
	}
	return otherColor
}

// variantColors gives each variant its colour: a shade of its transport's
// hue (in axis order, so the shades repeat from plot to plot), or its
// family's colour.
func variantColors(vs []string) map[string]color.Color {
	out := map[string]color.Color{}
	used := map[string]int{}
	for _, v := range vs {
		a := axes(v)
		shades := transShades[a.Transport]
		if isPeer(v) || len(shades) == 0 {
			out[v] = familyColor(v)
			continue
		}
		out[v] = shades[used[a.Transport]%len(shades)]
		used[a.Transport]++
	}
	return out
}

// familySeries is a single-case bar chart's series: one per family, each
// with a value at its variants' positions, so the legend names the kinds.
func (pl *painter) familySeries(scenario, cs, fig string, variants []string) []barSeries {
	var series []barSeries
	index := map[string]int{}
	for g, v := range variants {
		f := family(v)
		i, ok := index[f]
		if !ok {
			i = len(series)
			index[f] = i
			series = append(series, barSeries{name: f, color: familyColor(v), vals: make([]*stat, len(variants))})
		}
		series[i].vals[g] = statAt(pl.d.cell(scenario, v, cs), fig)
	}
	return series
}

// subtitle says under a plot's title what load made it and on which
// machine.
func (pl *painter) subtitle(scenario string) string {
	var rows []harness.Row
	for _, c := range pl.d.cells[scenario] {
		rows = append(rows, c.Rows...)
	}
	load := loadText(pl.d, scenario)
	if p := profiles(rows); p != "" {
		load += " (profile " + p + ")"
	}
	return "load: " + load + "\nmachine: " + machineText(machines(rows))
}

// loadText is what the cases of a scenario share, and which parameters
// vary between them.
func loadText(d *data, scenario string) string {
	values := map[string]map[float64]bool{}
	cells := d.cells[scenario]
	for _, c := range cells {
		for k, v := range c.Params {
			if values[k] == nil {
				values[k] = map[float64]bool{}
			}
			values[k][v] = true
		}
	}
	var same, vary []string
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if len(values[k]) == 1 {
			for v := range values[k] {
				same = append(same, fmt.Sprintf("%s=%g", k, v))
			}
			continue
		}
		vary = append(vary, k)
	}
	s := strings.Join(same, " ")
	if len(vary) > 0 {
		if s != "" {
			s += "; "
		}
		s += "one case per group or point, varying " + strings.Join(vary, ", ")
	}
	if scenario == "idle" {
		s = "idle connections ramped to " + s
	}
	return strings.TrimSpace(s)
}

// machineText names the machines of a plot's rows.
func machineText(ms []harness.Machine) string {
	if len(ms) == 0 {
		return "unknown"
	}
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%d × %s, GOMAXPROCS %d, %s, kernel %s", m.NumCPU, orDash(m.CPUModel), m.GOMAXPROCS, orDash(m.GoVersion), orDash(m.Kernel)))
	}
	return strings.Join(parts, "; ")
}
