package report

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gpush/gpush/harness"
)

// Plot geometry.
const (
	plotWidth   = 9 * vg.Inch
	plotHeight  = 5.5 * vg.Inch
	chrome      = 1.4 * vg.Inch // title, axis labels and ticks: height not for data
	legendEntry = 15            // points per legend line
	maxBar      = 48            // points, the widest bar
	margin      = 12            // points of white around a plot
	logRange    = 30            // a Y axis turns logarithmic when its values span this factor
)

// palette colours series; variants keep their colour across plots.
var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
	{188, 189, 34, 255}, {23, 190, 207, 255},
}

// shapes tell curves apart where they overlap.
var shapes = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PlusGlyph{},
	draw.CrossGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{},
}

// figure is a finished plot and the height to save it at.
type figure struct {
	name   string
	plot   *plot.Plot
	height vg.Length
}

// writePlots draws every plot the data allows into dir, each as PNG and
// SVG, and returns the files written as "plots/<name>.<ext>".
func writePlots(d *data, dir string) ([]string, error) {
	pl := painter{d: d, colors: variantColors(d.variants(""))}
	for _, step := range []func() error{pl.idle, pl.fanout, pl.flood, pl.batch, pl.split, pl.private, pl.churn, pl.cluster} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return saveAll(pl.figs, dir)
}

// saveAll saves every figure as PNG and SVG, a few figures at a time
// (rendering is most of a report's time; a plot is drawn by one goroutine
// only, as drawing may touch its axes), and returns the files as
// "plots/<file>".
func saveAll(figs []figure, dir string) ([]string, error) {
	exts := []string{"png", "svg"}
	var files []string
	var jobs []func() error
	for _, f := range figs {
		for _, ext := range exts {
			files = append(files, "plots/"+f.name+"."+ext)
		}
		jobs = append(jobs, func() error {
			for _, ext := range exts {
				name := f.name + "." + ext
				if err := save(f.plot, f.height, filepath.Join(dir, name), ext); err != nil {
					return fmt.Errorf("save plot %s: %w", name, err)
				}
			}
			return nil
		})
	}
	if err := runAll(jobs, runtime.GOMAXPROCS(0)); err != nil {
		return nil, err
	}
	return files, nil
}

// save draws a plot with a white margin around it into a file of the
// format ext.
func save(p *plot.Plot, height vg.Length, path, ext string) error {
	c, err := draw.NewFormattedCanvas(plotWidth, height, ext)
	if err != nil {
		return err
	}
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	p.Draw(draw.Crop(dc, margin, -margin, margin, -margin))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runAll runs jobs on up to n goroutines and returns their errors, joined.
func runAll(jobs []func() error, n int) error {
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(n, len(jobs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = jobs[i]()
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// painter collects the figures of one report.
type painter struct {
	d      *data
	colors map[string]color.Color
	figs   []figure
}

// add keeps a figure; a nil plot (nothing to draw) is dropped.
func (pl *painter) add(name string, p *plot.Plot, h vg.Length, err error) error {
	if err != nil {
		return fmt.Errorf("plot %s: %w", name, err)
	}
	if p != nil {
		scenario, _, _ := strings.Cut(name, "_")
		p.Title.Text += "\n" + pl.subtitle(scenario)
		pl.figs = append(pl.figs, figure{name: name, plot: p, height: h})
	}
	return nil
}

// idle: memory over the connection ramp, and the slope per variant.
func (pl *painter) idle() error {
	heapStack := func(p harness.Point) float64 { return p.HeapBytes + p.StackBytes }
	rss := func(p harness.Point) float64 { return p.RSSBytes }
	p, h, err := linesPlot("Idle: heap objects + goroutine stacks vs connections", "connections", "bytes", pl.rampCurves(heapStack), logAxes{y: true, always: true})
	if err := pl.add("idle_heapstack", p, h, err); err != nil {
		return err
	}
	p, h, err = linesPlot("Idle: server RSS vs connections", "connections", "bytes", pl.rampCurves(rss), logAxes{y: true, always: true})
	if err := pl.add("idle_rss", p, h, err); err != nil {
		return err
	}
	p, h, err = pl.scaledBars("idle", harness.FigHeapStackPerConn, "Idle: heap + stack bytes per connection (slope, log scale)", "bytes per connection", yLog)
	return pl.add("idle_heapstack_per_conn", p, h, err)
}

// rampCurves is one curve per idle cell through its points.
func (pl *painter) rampCurves(y func(harness.Point) float64) []curve {
	var cs []curve
	multi := len(pl.d.cases("idle")) > 1
	for _, c := range pl.d.cells["idle"] {
		name := variantLabel(c.Variant)
		if multi {
			name += " " + c.Case
		}
		cs = append(cs, curve{name: name, color: pl.colors[c.Variant], pts: c.points(y)})
	}
	return cs
}

// fanout: latency percentiles per case, a bar per variant.
func (pl *painter) fanout() error {
	for _, f := range []struct{ fig, name, title string }{
		{harness.FigLatP50, "fanout_p50", "Fan-out: median latency (push → frame read)"},
		{harness.FigLatP99, "fanout_p99", "Fan-out: p99 latency (push → frame read)"},
	} {
		p, h, err := pl.caseBars("fanout", f.fig, f.title, "ms")
		if err := pl.add(f.name, p, h, err); err != nil {
			return err
		}
	}
	return nil
}

// cluster: one, two and three nodes side by side, a bar group per case
// (nodes, public fan-out or private).
func (pl *painter) cluster() error {
	for _, f := range []struct{ fig, name, title, unit string }{
		{harness.FigCPUPerDelivery, "cluster_cpu_per_delivery", "Cluster: CPU per delivery, every node and NATS summed", "µs per delivery"},
		{harness.FigLatP99, "cluster_p99", "Cluster: p99 latency (push on the first node → frame read)", "ms"},
	} {
		p, h, err := pl.caseBars("cluster", f.fig, f.title, f.unit)
		if err := pl.add(f.name, p, h, err); err != nil {
			return err
		}
	}
	return nil
}

// flood: the cost of a delivery per variant.
func (pl *painter) flood() error {
	for _, f := range []struct{ fig, name, title, unit string }{
		{harness.FigWritesPerDelivery, "flood_writes_per_delivery", "Flood: write syscalls per delivery", "writes per delivery"},
		{harness.FigCPUPerDelivery, "flood_cpu_per_delivery", "Flood: server CPU per delivery", "µs per delivery"},
		{harness.FigDeliveriesPerCPU, "flood_deliveries_per_cpu_s", "Flood: deliveries per server CPU second", "deliveries per CPU s"},
	} {
		p, h, err := pl.variantBars("flood", f.fig, f.title, f.unit)
		if err := pl.add(f.name, p, h, err); err != nil {
			return err
		}
	}
	return nil
}

// batch: the flush-window curve, a line per variant.
func (pl *painter) batch() error {
	for _, f := range []struct{ fig, name, title, unit string }{
		{harness.FigLatP99, "batch_p99", "Batch window: p99 latency vs flush interval", "p99 latency, ms"},
		{harness.FigCPUPerDelivery, "batch_cpu_per_delivery", "Batch window: server CPU per delivery vs flush interval", "µs per delivery"},
		{harness.FigWritesPerDelivery, "batch_writes_per_delivery", "Batch window: write syscalls per delivery vs flush interval", "writes per delivery"},
	} {
		p, h, err := linesPlot(f.title, "flush interval, ms", f.unit, pl.paramCurves("batch", "flush_ms", f.fig), logAxes{x: true, y: true})
		if err := pl.add(f.name, p, h, err); err != nil {
			return err
		}
	}
	return nil
}

// paramCurves is one curve per variant (and other parameters) of a
// scenario, with x the parameter xKey and y the figure.
func (pl *painter) paramCurves(scenario, xKey, fig string) []curve {
	index := map[string]int{}
	var cs []curve
	for _, c := range pl.d.cells[scenario] {
		x, ok := c.Params[xKey]
		s, has := c.stat(fig)
		if !ok || !has {
			continue
		}
		key := c.Variant + " " + otherParams(c.Params, xKey)
		i, seen := index[key]
		if !seen {
			i = len(cs)
			index[key] = i
			cs = append(cs, curve{name: strings.TrimSpace(key), color: pl.colors[c.Variant]})
		}
		cs[i].pts = append(cs[i].pts, xyStat{X: x, Y: s})
	}
	perVariant := map[string]int{}
	for _, c := range cs {
		perVariant[strings.Fields(c.name)[0]]++
	}
	if len(perVariant) == len(cs) { // one curve per variant: its name is enough
		for i := range cs {
			cs[i].name = strings.Fields(cs[i].name)[0]
		}
	}
	for i := range cs {
		sort.Slice(cs[i].pts, func(a, b int) bool { return cs[i].pts[a].X < cs[i].pts[b].X })
	}
	return cs
}

// otherParams is "k=v ..." of the parameters other than skip.
func otherParams(params map[string]float64, skip string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != skip {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%g", k, params[k])
	}
	return strings.Join(parts, " ")
}

// split: victims' p99 without and with attackers, per variant.
func (pl *painter) split() error {
	p, h, err := pl.variantBars("split", harness.FigLatP99, "Split frames: victims' p99 latency without (attackers=0) and with attackers", "p99 latency, ms")
	return pl.add("split_p99", p, h, err)
}

// private: throughput and p99 per variant.
func (pl *painter) private() error { return pl.throughputAndP99("private", "Private inboxes") }

// churn: throughput and p99 per variant.
func (pl *painter) churn() error { return pl.throughputAndP99("churn", "Churn") }

// throughputAndP99 draws delivered/s and p99 per variant of a scenario.
func (pl *painter) throughputAndP99(scenario, title string) error {
	p, h, err := pl.variantBars(scenario, harness.FigDeliveredPerSec, title+": deliveries per second", "deliveries/s")
	if err := pl.add(scenario+"_delivered_per_s", p, h, err); err != nil {
		return err
	}
	p, h, err = pl.variantBars(scenario, harness.FigLatP99, title+": p99 latency", "ms")
	return pl.add(scenario+"_p99", p, h, err)
}

// variantBars groups bars by variant, a bar per case; with a single case
// each variant's bar has its colour and the case goes to the title. Nil
// when no cell has the figure.
func (pl *painter) variantBars(scenario, fig, title, yLabel string) (*plot.Plot, vg.Length, error) {
	return pl.scaledBars(scenario, fig, title, yLabel, yAuto)
}

// scaledBars is variantBars with a choice of Y scale. With one case, a
// bar's colour is its kind: our variants by transport, each peer and the
// floor its own.
func (pl *painter) scaledBars(scenario, fig, title, yLabel string, scale yScale) (*plot.Plot, vg.Length, error) {
	variants, cases := pl.d.variants(scenario), pl.d.cases(scenario)
	if len(cases) == 1 {
		return barsPlot(title, yLabel, variants, pl.familySeries(scenario, cases[0], fig, variants), true, scale)
	}
	series := make([]barSeries, len(cases))
	for i, cs := range cases {
		series[i] = barSeries{name: orDash(cs), color: palette[i%len(palette)], vals: make([]*stat, len(variants))}
		for g, v := range variants {
			series[i].vals[g] = statAt(pl.d.cell(scenario, v, cs), fig)
		}
	}
	return barsPlot(title, yLabel, variants, series, true, scale)
}

// caseBars groups bars by case, a bar per variant. Nil when no cell has
// the figure.
func (pl *painter) caseBars(scenario, fig, title, yLabel string) (*plot.Plot, vg.Length, error) {
	variants, cases := pl.d.variants(scenario), pl.d.cases(scenario)
	series := make([]barSeries, len(variants))
	for i, v := range variants {
		series[i] = barSeries{name: variantLabel(v), color: pl.colors[v], vals: make([]*stat, len(cases))}
		for g, cs := range cases {
			series[i].vals[g] = statAt(pl.d.cell(scenario, v, cs), fig)
		}
	}
	labels := make([]string, len(cases))
	for i, cs := range cases {
		labels[i] = orDash(cs)
	}
	return barsPlot(title, yLabel, labels, series, true, yAuto)
}

// statAt is a cell's stat of a figure, nil when absent.
func statAt(c *cell, fig string) *stat {
	if c == nil {
		return nil
	}
	if s, ok := c.stat(fig); ok {
		return &s
	}
	return nil
}

// curve is one line of a line plot.
type curve struct {
	name  string
	color color.Color
	pts   []xyStat
}

// barSeries is one colour of a grouped bar chart: a value per group, nil
// where not measured.
type barSeries struct {
	name  string
	color color.Color
	vals  []*stat
}

// logAxes says which axes of a line plot may turn logarithmic (they do
// when their values span enough, or always).
type logAxes struct{ x, y, always bool }

// linesPlot draws curves with min–max error bars; nil when no curve has a
// point.
func linesPlot(title, xLabel, yLabel string, curves []curve, logs logAxes) (*plot.Plot, vg.Length, error) {
	var xs, ys []float64
	p := newPlot(title, xLabel, yLabel)
	entries := 0
	for _, c := range curves {
		if len(c.pts) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(c.pts))
		errs := make(plotter.YErrors, len(c.pts))
		spread := false
		for i, pt := range c.pts {
			xys[i] = plotter.XY{X: pt.X, Y: pt.Y.Med}
			errs[i].Low, errs[i].High = pt.Y.Med-pt.Y.Min, pt.Y.Max-pt.Y.Med
			spread = spread || pt.Y.Max > pt.Y.Min
			xs = append(xs, pt.X)
			ys = append(ys, pt.Y.Min, pt.Y.Max)
		}
		line, dots, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, 0, fmt.Errorf("curve %s: %w", c.name, err)
		}
		line.Color, dots.Color, dots.Shape = c.color, c.color, shapes[entries%len(shapes)]
		p.Add(line, dots)
		if spread {
			bars, err := plotter.NewYErrorBars(errorXYs{xys, errs})
			if err != nil {
				return nil, 0, fmt.Errorf("curve %s: %w", c.name, err)
			}
			bars.Color = c.color
			p.Add(bars)
		}
		p.Legend.Add(c.name, line, dots)
		entries++
	}
	if entries == 0 {
		return nil, 0, nil
	}
	if logs.x && spans(xs, 10) {
		lo, hi := positiveRange(xs)
		setLog(&p.X, lo/1.5, hi*1.5)
	} else {
		p.X.Tick.Marker = humanTicks{plot.DefaultTicks{}}
	}
	h, frac := heightFor(entries)
	mode := yLinear
	switch {
	case logs.always:
		mode = yLog
	case logs.y:
		mode = yAuto
	}
	fitY(p, ys, frac, mode)
	return p, h, nil
}

// barsPlot draws grouped bars with min–max error bars, the bars present
// in a group side by side; nil when no bar has a value. The legend names
// the series when asked.
func barsPlot(title, yLabel string, groups []string, series []barSeries, legend bool, scale yScale) (*plot.Plot, vg.Length, error) {
	groups, series = dropEmptyGroups(groups, series)
	p := newPlot(title, "", yLabel)
	var ys []float64
	width := barWidth(len(groups), maxPerGroup(groups, series))
	inLegend := make([]bool, len(series))
	for g := range groups {
		var present []int
		for i, s := range series {
			if s.vals[g] != nil {
				present = append(present, i)
			}
		}
		for k, i := range present {
			st := *series[i].vals[g]
			ys = append(ys, st.Min, st.Max)
			offset := vg.Length(float64(k)-float64(len(present)-1)/2) * width
			b, errBar, err := bar(g, st, width, offset, series[i].color)
			if err != nil {
				return nil, 0, fmt.Errorf("bar %s: %w", series[i].name, err)
			}
			p.Add(b)
			if errBar != nil {
				p.Add(errBar)
			}
			if legend && !inLegend[i] {
				p.Legend.Add(series[i].name, b)
				inLegend[i] = true
			}
		}
	}
	if len(ys) == 0 {
		return nil, 0, nil
	}
	entries := 0
	for _, in := range inLegend {
		if in {
			entries++
		}
	}
	p.NominalX(groups...)
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	if longest(groups)*6 > int(float64(plotWidth-vg.Inch)/float64(len(groups))*0.9) {
		p.X.Tick.Label.Rotation = math.Pi / 8
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	}
	h, frac := heightFor(entries)
	fitY(p, ys, frac, scale)
	return p, h, nil
}

// bar is one bar at group g, moved sideways by offset, and its min–max
// error bar when the runs differ (else nil).
func bar(g int, st stat, width, offset vg.Length, c color.Color) (*plotter.BarChart, plot.Plotter, error) {
	b, err := plotter.NewBarChart(plotter.Values{st.Med}, width)
	if err != nil {
		return nil, nil, err
	}
	b.XMin, b.Offset, b.Color = float64(g), offset, c
	b.LineStyle.Width = vg.Points(0.5)
	if st.Max > st.Min {
		eb, err := plotter.NewYErrorBars(errorXYs{
			plotter.XYs{{X: float64(g), Y: st.Med}},
			plotter.YErrors{{Low: st.Med - st.Min, High: st.Max - st.Med}},
		})
		if err != nil {
			return nil, nil, err
		}
		eb.CapWidth = min(width/2, eb.CapWidth)
		return b, shifted{eb, offset}, nil
	}
	return b, nil, nil
}

// dropEmptyGroups leaves out the groups where no series has a value.
func dropEmptyGroups(groups []string, series []barSeries) ([]string, []barSeries) {
	var keep []int
	for g := range groups {
		for _, s := range series {
			if s.vals[g] != nil {
				keep = append(keep, g)
				break
			}
		}
	}
	out := make([]barSeries, len(series))
	kept := make([]string, len(keep))
	for i, s := range series {
		out[i] = s
		out[i].vals = make([]*stat, len(keep))
		for k, g := range keep {
			out[i].vals[k] = s.vals[g]
		}
	}
	for k, g := range keep {
		kept[k] = groups[g]
	}
	return kept, out
}

// maxPerGroup is the most bars any group has.
func maxPerGroup(groups []string, series []barSeries) int {
	most := 1
	for g := range groups {
		n := 0
		for _, s := range series {
			if s.vals[g] != nil {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

// newPlot is an empty plot with titles and the legend at the top right.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// heightFor is the plot height that leaves room for a legend of n entries,
// and the fraction of the data area the legend takes at the top.
func heightFor(n int) (vg.Length, float64) {
	legend := vg.Length(n*legendEntry + 10)
	h := max(plotHeight, legend*2+chrome)
	return h, float64(legend) / float64(h-chrome)
}

// yScale is how fitY may scale a Y axis.
type yScale int

const (
	yLinear yScale = iota // always linear
	yAuto                 // logarithmic when the values span logRange
	yLog                  // logarithmic whenever a value is positive
)

// fitY sets the Y range to the values, from zero (or, on a log axis, from
// the power of ten below the smallest positive one), with room above for
// the legend's share of the height.
func fitY(p *plot.Plot, ys []float64, legendFrac float64, scale yScale) {
	if (scale == yAuto && spans(ys, logRange)) || (scale == yLog && spans(ys, 1)) {
		lo, hi := positiveRange(ys)
		lo = math.Pow(10, math.Floor(math.Log10(lo)))
		hi = lo * math.Pow(hi/lo, 1/(1-legendFrac)) // the legend's share on top, in log space
		setLog(&p.Y, lo, hi)
		return
	}
	lo, hi := 0.0, 0.0
	for _, y := range ys {
		lo, hi = math.Min(lo, y), math.Max(hi, y)
	}
	if hi <= lo {
		hi = lo + 1
	}
	p.Y.Min, p.Y.Max = lo, hi+(hi-lo)*legendFrac/(1-legendFrac)
	p.Y.Tick.Marker = humanTicks{plot.DefaultTicks{}}
}

// setLog makes an axis logarithmic from lo to hi (both positive); values
// below lo, zero included, sit at the bottom.
func setLog(a *plot.Axis, lo, hi float64) {
	a.Scale = clampLog{}
	a.Tick.Marker = humanTicks{plot.LogTicks{Prec: -1}}
	a.Min, a.Max = lo, hi
}

// spans reports whether the positive values differ by a factor or more:
// then a log axis reads better.
func spans(vs []float64, factor float64) bool {
	lo, hi := positiveRange(vs)
	return lo > 0 && hi/lo >= factor
}

// positiveRange is the smallest and largest positive value, zeros when
// there is none.
func positiveRange(vs []float64) (float64, float64) {
	lo, hi := math.Inf(1), 0.0
	for _, v := range vs {
		if v > 0 {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if hi == 0 {
		return 0, 0
	}
	return lo, hi
}

// barWidth fits n bars per group into the plot's width.
func barWidth(groups, n int) vg.Length {
	unit := (plotWidth - vg.Inch) / vg.Length(max(groups, 1))
	return min(unit*0.8/vg.Length(max(n, 1)), maxBar)
}

// longest is the length of the longest label.
func longest(ss []string) int {
	n := 0
	for _, s := range ss {
		n = max(n, len(s))
	}
	return n
}

// errorXYs gives points with their Y errors to NewYErrorBars.
type errorXYs struct {
	plotter.XYs
	plotter.YErrors
}

// shifted draws error bars moved sideways, onto a bar of a group.
type shifted struct {
	*plotter.YErrorBars
	dx vg.Length
}

// Plot implements plot.Plotter.
func (s shifted) Plot(c draw.Canvas, p *plot.Plot) {
	c.Push()
	c.Translate(vg.Point{X: s.dx})
	s.YErrorBars.Plot(c, p)
	c.Pop()
}

// clampLog is a log scale that puts values below the axis minimum (zero
// included) at the minimum, so bars from zero can stand on a log axis.
type clampLog struct{}

// Normalize implements plot.Normalizer.
func (clampLog) Normalize(min, max, x float64) float64 {
	return plot.LogScale{}.Normalize(min, max, math.Max(x, min))
}

// humanTicks relabels another ticker's labels as 1.5k, 20M, ...
type humanTicks struct{ plot.Ticker }

// Ticks implements plot.Ticker.
func (h humanTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := h.Ticker.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = human(ts[i].Value)
		}
	}
	return ts
}
