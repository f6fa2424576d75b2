package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gpush/gpush/variants"
)

// Bench runs every scenario against every variant.
type Bench struct {
	Server     string            // the gpushd binary
	Externals  map[string]string // binaries of the external servers among Variants (Floor, Centrifugo), by name
	Loadgen    []string          // argv of a generator process
	Variants   []string
	Scenarios  []string // default: all
	Profile    Profile
	Runs       int
	Out        string    // results directory: raw.jsonl is appended to
	Progress   io.Writer // one line per job
	RunID      string
	Flags      map[string]string // extra gpushd flags for every server (name without the dash)
	PushMode   string            // how pushes are made (Modes; "": unary); the private scenario runs every mode
	BatchSize  int               // items per PushBatch call (0: DefaultBatch)
	Lanes      int               // private scenario: concurrent pushers (0: DefaultLanes)
	ClosedLoop bool              // push as fast as calls return instead of at each load's rate

	machine Machine
	raw     *os.File
}

// Run measures, appends a row per measurement to Out/raw.jsonl, and
// returns the rows.
func (b *Bench) Run() ([]Row, error) {
	if b.RunID == "" {
		b.RunID = time.Now().UTC().Format("20060102T150405Z")
	}
	if len(b.Scenarios) == 0 {
		b.Scenarios = Scenarios
	}
	if b.Progress == nil {
		b.Progress = io.Discard
	}
	if err := checkMode(b.PushMode); err != nil {
		return nil, err
	}
	b.machine = ThisMachine()
	if err := os.MkdirAll(b.Out, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(b.Out, "raw.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b.raw = f

	jobs := b.jobs()
	var rows []Row
	start := time.Now()
	for i, j := range jobs {
		fmt.Fprintf(b.Progress, "[%d/%d] run %d/%d  %-8s %-26s %s  elapsed %s  eta %s\n",
			i+1, len(jobs), j.run, b.Runs, j.scenario, j.variant, b.loadName(j),
			time.Since(start).Round(time.Second), eta(start, i, len(jobs)))
		got := b.measure(j)
		for _, r := range got {
			clean(r.Figures)
			if err := json.NewEncoder(f).Encode(r); err != nil {
				return rows, fmt.Errorf("write %s: %w", f.Name(), err)
			}
			for _, n := range r.Notes {
				fmt.Fprintf(b.Progress, "    note: %s\n", n)
			}
		}
		rows = append(rows, got...)
	}
	fmt.Fprintf(b.Progress, "done: %d jobs, %d rows in %s\n", len(jobs), len(rows), time.Since(start).Round(time.Second))
	return rows, nil
}

func eta(start time.Time, done, total int) string {
	if done == 0 {
		return "?"
	}
	per := time.Since(start) / time.Duration(done)
	return (per * time.Duration(total-done)).Round(time.Second).String()
}

// loadName says what a job pushes: rate=0 is closed loop.
func (b *Bench) loadName(j job) string {
	switch j.scenario {
	case "idle":
		return "ramp"
	case "batch":
		return fmt.Sprintf("flush=%dms conns=%d rate=%g", j.flushMs, j.load.Conns, j.load.Rate)
	case "split":
		return fmt.Sprintf("victims=%d attackers=%d", j.load.Conns, j.load.Attackers)
	case "cluster":
		return fmt.Sprintf("nodes=%d conns=%d rate=%g private=%v", j.nodes, j.load.Conns, j.load.Rate, j.private)
	}
	return fmt.Sprintf("conns=%d size=%d rate=%g", j.load.Conns, j.load.Size, b.rate(j.load))
}

// jobs lists the measurements: runs outermost, so that every variant of a
// scenario is measured close together in time, run after run.
func (b *Bench) jobs() []job {
	var js []job
	p := b.Profile
	for run := 1; run <= b.Runs; run++ {
		for _, sc := range b.Scenarios {
			for _, v := range b.Variants {
				if !Serves(v, sc) {
					continue
				}
				switch sc {
				case "idle":
					js = append(js, job{run: run, scenario: sc, variant: v})
				case "fanout":
					for _, l := range p.Fanout {
						js = append(js, job{run: run, scenario: sc, variant: v, load: l})
					}
				case "flood":
					js = append(js, job{run: run, scenario: sc, variant: v, load: p.Flood})
				case "split":
					js = append(js, job{run: run, scenario: sc, variant: v, load: p.Split})
				case "private":
					js = append(js, job{run: run, scenario: sc, variant: v, load: p.Private})
				case "churn":
					js = append(js, job{run: run, scenario: sc, variant: v, load: p.Churn})
				case "storm":
					js = append(js, job{run: run, scenario: sc, variant: v, load: p.Storm})
				case "cluster":
					js = append(js, clusterJobs(job{run: run, scenario: sc, variant: v}, p.Cluster)...)
				case "batch":
					if a, _ := variants.AxesOf(v); a.Policy == "batched" {
						for _, ms := range p.FlushMs {
							js = append(js, job{run: run, scenario: sc, variant: v, load: p.Batch, flushMs: ms})
						}
					}
				}
			}
		}
	}
	return js
}

// startServer starts j's server with the bench's flags and extra ones.
func (b *Bench) startServer(j job, extra map[string]string) (*Server, error) {
	flags := map[string]string{}
	for k, v := range b.Flags {
		flags[k] = v
	}
	for k, v := range extra {
		flags[k] = v
	}
	switch j.variant {
	case Floor:
		return StartFloor(b.Externals[Floor], flags["flush-interval"])
	case Centrifugo:
		return StartCentrifugo(b.Externals[Centrifugo])
	}
	return StartServer(b.Server, j.variant, flags)
}

// row starts a result row for j. With history on (-set history-size=N)
// the case carries history=N, so that rows with and without history do not
// compare as one case.
func (b *Bench) row(j job, params map[string]float64, config map[string]string) Row {
	if n := b.historySize(); n > 0 {
		params = modeParams(params, "", 0) // a copy
		params["history"] = float64(n)
	}
	return Row{
		Time: time.Now().UTC(), RunID: b.RunID, Run: j.run, Profile: b.Profile.Name,
		Variant: j.variant, Scenario: j.scenario, Case: caseName(params),
		Params: params, Config: config, Machine: b.machine, Figures: map[string]float64{},
	}
}

// historySize is the history-size flag of every server, 0 when off.
func (b *Bench) historySize() int {
	n, _ := strconv.Atoi(b.Flags["history-size"])
	return n
}

// measure runs one job; a failure becomes a row with a note, never a stop.
func (b *Bench) measure(j job) []Row {
	var rows []Row
	var err error
	switch j.scenario {
	case "idle":
		rows, err = b.idle(j)
	case "split":
		rows, err = b.split(j)
	case "storm":
		rows, err = b.storm(j)
	case "cluster":
		rows, err = b.cluster(j)
	default:
		rows, err = b.traffic(j)
	}
	if err != nil {
		if len(rows) == 0 {
			rows = []Row{b.row(j, map[string]float64{}, nil)}
		}
		rows[len(rows)-1].Notes = append(rows[len(rows)-1].Notes, "error: "+err.Error())
	}
	return rows
}

// clean drops figures JSON cannot carry (NaN, Inf): absent means not
// measured.
func clean(f map[string]float64) {
	for k, v := range f {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			delete(f, k)
		}
	}
}

// slope is the least-squares slope of y over x.
func slope(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) < 2 {
		return math.NaN()
	}
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / d
}
