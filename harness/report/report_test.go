package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/harness"
)

const (
	prod = "epoll-sharded-batched"
	peer = "gws-sharded-immediate"
)

var (
	runID  = "20260102T030405Z"
	oldID  = "20250101T000000Z"
	t0     = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	testPC = harness.Machine{GoVersion: "go1.26.8", Kernel: "6.8.0-test", CPUModel: "Test CPU 9000", NumCPU: 2, GOMAXPROCS: 2, Hostname: "bench1"}
)

// rows builds synthetic rows: fig(variant, run) gives each run's figures.
type rowSet []harness.Row

func (rs *rowSet) add(scenario, variant string, run int, params map[string]float64, figs map[string]float64) *harness.Row {
	*rs = append(*rs, harness.Row{
		Time: t0.Add(time.Duration(len(*rs)) * time.Second), RunID: runID, Run: run, Profile: "test",
		Variant: variant, Scenario: scenario, Case: caseOf(params), Params: params,
		Config: map[string]string{"variant": variant}, Machine: testPC, Figures: figs,
	})
	return &(*rs)[len(*rs)-1]
}

// caseOf is the harness's case string: sorted "k=v".
func caseOf(params map[string]float64) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%g", k, params[k])
	}
	return strings.Join(parts, " ")
}

// pick is a run's value: a for run 1, b for run 2.
func pick(run int, a, b float64) float64 {
	if run == 1 {
		return a
	}
	return b
}

// traffic is a traffic row's figures around a p99 and CPU per delivery.
func traffic(p99, cpuUs, writes float64) map[string]float64 {
	return map[string]float64{
		harness.FigDeliveredPerSec: 1e6 / cpuUs, harness.FigLatP50: p99 / 2, harness.FigLatP99: p99,
		harness.FigLatP999: p99 * 1.5, harness.FigLatMax: p99 * 2, harness.FigWritesPerDelivery: writes,
		harness.FigCPUPerDelivery: cpuUs, harness.FigDeliveriesPerCPU: 1e6 / cpuUs,
		harness.FigExpected: 1000, harness.FigDelivered: 1000,
	}
}

func (rs *rowSet) idle(run int) {
	for _, v := range []struct {
		name     string
		per, gor float64
	}{{prod, pick(run, 900, 1100), 0.001}, {peer, pick(run, 2900, 3100), 1}} {
		r := rs.add("idle", v.name, run, map[string]float64{"conns_max": 4000}, map[string]float64{
			harness.FigHeapStackPerConn: v.per, harness.FigRSSPerConn: v.per * 2, harness.FigGoroutinesPerConn: v.gor,
		})
		for _, n := range []float64{1000, 2000, 4000} {
			r.Points = append(r.Points, harness.Point{Conns: n, HeapBytes: n * v.per * 0.7, StackBytes: n * v.per * 0.3,
				RSSBytes: 8e6 + n*v.per*2, Goroutines: n * v.gor})
		}
	}
}

func (rs *rowSet) fanout(run int) {
	for _, conns := range []float64{1000, 10000} {
		for _, size := range []float64{64, 512} {
			params := func() map[string]float64 { return map[string]float64{"conns": conns, "size": size, "rate": 100} }
			p99 := 3.0
			if conns == 10000 && size == 512 {
				p99 = 20 // over 10 ms + 5 ms: a miss
			}
			rs.add("fanout", prod, run, params(), traffic(pick(run, p99-1, p99+1), 0.5, 0.02))
			rs.add("fanout", peer, run, params(), traffic(pick(run, 4, 6), 3, 1))
		}
	}
}

func (rs *rowSet) flood(run int) {
	params := func() map[string]float64 {
		return map[string]float64{"conns": 1000, "topics": 10, "size": 64, "rate": 1000}
	}
	f := traffic(1, 0.3, pick(run, 0.02, 0.04))
	f[harness.FigDeliveriesPerCPU] = pick(run, 2.5e6, 3.5e6)
	rs.add("flood", prod, run, params(), f)
	g := traffic(8, 4, 1)
	g[harness.FigDeliveriesPerCPU] = pick(run, 200e3, 300e3)
	rs.add("flood", peer, run, params(), g)
}

func (rs *rowSet) split(run int) {
	for _, v := range []struct {
		name        string
		calm, under float64
	}{{prod, 10, 10.5}, {peer, 10, 20}} {
		for _, atk := range []float64{0, 100} {
			p99 := v.calm
			if atk > 0 {
				p99 = v.under
			}
			f := traffic(p99, 1, 0.5)
			if atk > 0 {
				f[harness.FigRSSPerAttacker] = 5000
			}
			rs.add("split", v.name, run, map[string]float64{"conns": 500, "attackers": atk, "size": 64, "rate": 50}, f)
		}
	}
}

func (rs *rowSet) privateAndChurn(run int) {
	for _, v := range []string{prod, peer} {
		f := traffic(pick(run, 2, 4), 1, 0.5)
		f[harness.FigMisdelivered] = 0
		rs.add("private", v, run, map[string]float64{"users": 1000, "rate": 500, "size": 64}, f)
		if v == prod {
			b := traffic(pick(run, 2, 4), 1, 0.5)
			b[harness.FigCPUPerPush] = pick(run, 14, 18)
			rs.add("private", v, run, map[string]float64{"users": 1000, "rate": 500, "size": 64, "batch": 100}, b)
		}
		g := traffic(pick(run, 5, 7), 2, 0.5)
		g[harness.FigChurnOpsPerSec] = 200
		r := rs.add("churn", v, run, map[string]float64{"conns": 1000, "churn": 50, "rate": 100, "size": 64}, g)
		if v == peer && run == 2 {
			r.Notes = append(r.Notes, "3 churn cycles failed")
		}
	}
}

func (rs *rowSet) batch(run int) {
	for _, v := range []string{prod, "epoll-syncmap-batched"} {
		for _, ms := range []float64{1, 5, 10, 50} {
			r := rs.add("batch", v, run, map[string]float64{"flush_ms": ms, "conns": 1000, "rate": 100, "size": 64},
				traffic(ms+pick(run, 1, 2), 10/ms, 1/ms))
			r.Config["flush-interval"] = fmt.Sprintf("%gms", ms)
		}
	}
}

// writeRaw writes rows as raw.jsonl into a temporary directory.
func writeRaw(t *testing.T, rows []harness.Row) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raw.jsonl")
	f, err := os.Create(path)
	require.NoError(t, err)
	enc := json.NewEncoder(f)
	for _, r := range rows {
		require.NoError(t, enc.Encode(r))
	}
	require.NoError(t, f.Close())
	return path
}

// requirePlots checks that each named plot exists as non-empty PNG and SVG.
func requirePlots(t *testing.T, out string, names ...string) {
	t.Helper()
	for _, n := range names {
		for _, ext := range []string{".png", ".svg"} {
			st, err := os.Stat(filepath.Join(out, "plots", n+ext))
			if assert.NoError(t, err, n+ext) {
				assert.Positive(t, st.Size(), n+ext)
			}
		}
	}
}

var allPlots = []string{
	"idle_heapstack", "idle_rss", "idle_heapstack_per_conn",
	"fanout_p50", "fanout_p99",
	"flood_writes_per_delivery", "flood_cpu_per_delivery", "flood_deliveries_per_cpu_s",
	"batch_p99", "batch_cpu_per_delivery", "batch_writes_per_delivery",
	"split_p99",
	"private_delivered_per_s", "private_p99", "churn_delivered_per_s", "churn_p99",
}

func TestBuildEveryScenario(t *testing.T) {
	var rs rowSet
	// An older run id that must be ignored.
	rs.add("idle", prod, 1, map[string]float64{"conns_max": 4000}, map[string]float64{harness.FigHeapStackPerConn: 99999})
	rs[0].RunID, rs[0].Time = oldID, t0.Add(-time.Hour)
	for run := 1; run <= 2; run++ {
		rs.idle(run)
		rs.fanout(run)
		rs.flood(run)
		rs.split(run)
		rs.privateAndChurn(run)
		rs.batch(run)
	}
	raw := writeRaw(t, rs)
	out := filepath.Join(t.TempDir(), "report")
	require.NoError(t, Build(raw, out))

	b, err := os.ReadFile(filepath.Join(out, "summary.md"))
	require.NoError(t, err)
	md := string(b)

	// Header: run ids, machine.
	assert.Contains(t, md, "`"+runID+"`")
	assert.Contains(t, md, "ignores `"+oldID+"`")
	assert.Contains(t, md, "Test CPU 9000, 2 CPUs; kernel 6.8.0-test; go1.26.8; GOMAXPROCS 2")
	assert.NotContains(t, md, "99,999", "rows of the older run id leak into the report")

	// Medians over two runs, with the spread.
	assert.Contains(t, md, "| "+prod+" | conns_max=4000 | 1, 2 | 1,000 (900–1,100) |")
	assert.Contains(t, md, "| "+peer+" | conns_max=4000 | 1, 2 | 3,000 (2,900–3,100) |")
	assert.Contains(t, md, "3,000,000 (2,500,000–3,500,000)")
	for _, s := range []string{"idle", "fanout", "flood", "split", "private", "churn", "batch"} {
		assert.Contains(t, md, "\n## "+s+"\n")
	}

	// Targets: met, missed (with by how much), not measured.
	assert.Contains(t, md, "| idle: heapstack_per_conn ≤ 1024 B | "+prod+" @ conns_max=4000 | 1,000 B | ≤ 1,024 B | ✅ met | 24.0 B under the limit (-2%) |")
	assert.Contains(t, md, "| idle (aim): heapstack_per_conn ≤ 512 B | "+prod+" @ conns_max=4000 | 1,000 B | ≤ 512 B | ❌ **MISSED** | missed by 488 B (+95%) |")
	assert.Contains(t, md, "12.0× | ≥ 10.0× | ✅ met") // 3,000,000 / 250,000
	assert.Contains(t, md, "| fanout conns=10000: lat_p99_ms ≤ 1.2× floor's | "+prod+" @ conns=10000 rate=100 size=512 | — | — | not measured | no floor lat_p99_ms in this case |")
	assert.Contains(t, md, "| fanout conns=10000: lat_p99_ms ≤ best peer's (immediate) | *-immediate | — | — | not measured |")
	assert.Contains(t, md, "| split: victims' lat_p99_ms with attackers ≤ 1.10× without | "+prod+" @ attackers=100 conns=500 rate=50 size=64 | 1.05× | ≤ 1.10× | ✅ met |")
	assert.Contains(t, md, "| split: victims' lat_p99_ms with attackers ≤ 1.10× without | "+peer+" @ attackers=100 conns=500 rate=50 size=64 | 2.00× | ≤ 1.10× | ❌ **MISSED** |")
	assert.Contains(t, md, "ahead of peers: idle heapstack_per_conn < each peer's | "+prod+" vs "+peer+" @ conns_max=4000 | 1,000 B | < 3,000 B | ✅ met")
	assert.Contains(t, md, "3 churn cycles failed")
	assert.Contains(t, md, "| private: cpu_us_per_push ≤ 20 us through a batch of 100 | "+prod+" @ batch=100 rate=500 size=64 users=1000 | 16.0 us | ≤ 20.0 us | ✅ met |")

	requirePlots(t, out, allPlots...)
}

func TestBuildSomeScenarios(t *testing.T) {
	var rs rowSet
	for run := 1; run <= 2; run++ {
		rs.idle(run)
		rs.flood(run)
	}
	// A job that failed before measuring: no parameters, no figures, a note.
	failed := rs.add("flood", "epoll-syncmap-batched", 1, map[string]float64{}, map[string]float64{})
	failed.Notes = []string{"error: server gone"}
	raw := writeRaw(t, rs)
	out := t.TempDir()
	require.NoError(t, Build(raw, out))

	b, err := os.ReadFile(filepath.Join(out, "summary.md"))
	require.NoError(t, err)
	md := string(b)
	assert.Contains(t, md, "The raw file holds this run id only.")
	assert.Contains(t, md, "\n## idle\n")
	assert.NotContains(t, md, "\n## fanout\n")
	assert.Contains(t, md, "| fanout conns=10000: lat_p99_ms ≤ 1.2× floor's | "+prod+" | — | — | not measured | no fanout rows at conns=10000 |")
	assert.Contains(t, md, "| split: victims' lat_p99_ms with attackers ≤ 1.10× without | * | — | — | not measured |")
	assert.Contains(t, md, "| epoll-syncmap-batched | — | 1 | — |")
	assert.Contains(t, md, "- flood, epoll-syncmap-batched, —, run 1: error: server gone")
	assert.Contains(t, md, "| flood: writes_per_delivery ≤ 0.05 (batched) | epoll-syncmap-batched | — | — | not measured | writes_per_delivery absent from the rows |")

	requirePlots(t, out, "idle_heapstack", "idle_rss", "idle_heapstack_per_conn",
		"flood_writes_per_delivery", "flood_cpu_per_delivery", "flood_deliveries_per_cpu_s")
	for _, n := range []string{"fanout_p99", "batch_p99", "split_p99", "private_p99", "churn_p99"} {
		assert.NoFileExists(t, filepath.Join(out, "plots", n+".png"))
	}
}

func TestLoadBadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raw.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("{\"run_id\":\"a\"}\n\n{not json\n"), 0o644))
	_, err := Load(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 3")

	require.NoError(t, os.WriteFile(path, nil, 0o644))
	assert.Error(t, Build(path, t.TempDir()), "no rows is an error")
}

// TestFloorColumnsAndTargets: every main figure the floor measured gets a
// "× floor" column, and the production variant is judged by its distance
// to the floor in the same case.
func TestFloorColumnsAndTargets(t *testing.T) {
	var rs rowSet
	for run := 1; run <= 2; run++ {
		rs.idle(run)
		rs.flood(run)
		rs.fanout(run)
		rs.add("idle", harness.Floor, run, map[string]float64{"conns_max": 4000}, map[string]float64{
			harness.FigHeapStackPerConn: 500, harness.FigRSSPerConn: 800, harness.FigGoroutinesPerConn: 0,
		})
		rs.add("flood", harness.Floor, run, map[string]float64{"conns": 1000, "topics": 10, "size": 64, "rate": 1000}, traffic(1, 0.25, 0.01))
		rs.add("fanout", harness.Floor, run, map[string]float64{"conns": 10000, "size": 512, "rate": 100}, traffic(10, 0.4, 0.01))
		rs.add("flood", harness.Centrifugo, run, map[string]float64{"conns": 1000, "topics": 10, "size": 64, "rate": 1000}, traffic(5, 12, 0.9))
		for _, atk := range []float64{0, 100} {
			rs.add("split", harness.Floor, run, map[string]float64{"conns": 500, "attackers": atk, "size": 64, "rate": 50}, traffic(10+atk, 1, 0.5))
		}
	}
	out := t.TempDir()
	require.NoError(t, Build(writeRaw(t, rs), out))
	b, err := os.ReadFile(filepath.Join(out, "summary.md"))
	require.NoError(t, err)
	md := string(b)

	assert.Contains(t, md, "| Variant | Case | runs | heapstack_per_conn | × floor | rss_per_conn | × floor | goroutines_per_conn |")
	assert.Contains(t, md, "| "+prod+" | conns_max=4000 | 1, 2 | 1,000 (900–1,100) | 2.00× | 2,000 (1,800–2,200) | 2.50× | 0.001 |")
	assert.Contains(t, md, "| floor (floor) | conns_max=4000 | 1, 2 | 500 | 1.00× |")
	assert.Contains(t, md, "| centrifugo (peer) | conns=1000 rate=1000 size=64 topics=10 | 1, 2 |")
	assert.Contains(t, md, "| idle: heapstack_per_conn ≤ 1.5× floor's | "+prod+" @ conns_max=4000 | 2.00× | ≤ 1.50× | ❌ **MISSED** |")
	assert.Contains(t, md, "| flood: cpu_us_per_delivery ≤ 1.5× floor's | "+prod+" @ conns=1000 rate=1000 size=64 topics=10 | 1.20× | ≤ 1.50× | ✅ met |")
	assert.Contains(t, md, "| fanout conns=10000: lat_p99_ms ≤ 1.2× floor's | "+prod+" @ conns=10000 rate=100 size=512 | 2.00× | ≤ 1.20× | ❌ **MISSED** |")
	assert.Contains(t, md, "| fanout conns=10000: lat_p99_ms ≤ 1.2× floor's | "+prod+" @ conns=10000 rate=100 size=64 | — | — | not measured | no floor lat_p99_ms in this case |")
	assert.NotContains(t, md, "| split: victims' lat_p99_ms with attackers ≤ 1.10× without | floor", "the floor is not judged")
	assert.Contains(t, md, "| floor (floor) | attackers=100 conns=500 rate=50 size=64 | 1, 2 | 1,000,000 | 1.00× |")
	assert.Contains(t, md, "ahead of peers: flood cpu_us_per_delivery < each peer's | "+prod+" vs centrifugo @ conns=1000 rate=1000 size=64 topics=10 | 0.3 µs | < 12.0 µs | ✅ met")

	assert.Contains(t, md, "## Head to head\n", "the head-to-head table follows the targets")
	assert.Contains(t, md, "| flood cpu_us_per_delivery @ conns=1000 rate=1000 size=64 topics=10 | 0.3 | 0.25 | 1.20× | 4.00 ("+peer+") | 0.075× | 12.0 | 0.025× |",
		"ours, the floor, the best library peer and Centrifugo side by side, with the ratios")
	assert.Contains(t, md, "| idle heapstack_per_conn @ conns_max=4000 | 1,000 | 500 | 2.00× | 3,000 ("+peer+") | 0.333× | — | — |",
		"a dash where Centrifugo did not run the case")
}

// TestQuickScaleNotJudged: a run below the targets' scales says so on its
// first line and marks those targets "not judged at this scale", never
// missed.
func TestQuickScaleNotJudged(t *testing.T) {
	var rs rowSet
	rs.add("idle", prod, 1, map[string]float64{"conns_max": 1000}, map[string]float64{harness.FigHeapStackPerConn: 5000, harness.FigGoroutinesPerConn: 0.5})
	rs.add("flood", prod, 1, map[string]float64{"conns": 100, "topics": 5, "size": 32, "rate": 1000}, traffic(5, 30, 0.5))
	rs.add("fanout", prod, 1, map[string]float64{"conns": 300, "size": 64, "rate": 200}, traffic(30, 10, 1))
	rs.add("split", prod, 1, map[string]float64{"conns": 200, "attackers": 0, "size": 64, "rate": 100}, traffic(10, 1, 1))
	rs.add("split", prod, 1, map[string]float64{"conns": 200, "attackers": 200, "size": 64, "rate": 100}, traffic(30, 1, 1))
	rs.add("private", prod, 1, map[string]float64{"users": 300, "batch": 100, "lanes": 8, "size": 64, "rate": 300}, traffic(30, 1, 1))
	for i := range rs {
		rs[i].Profile = "quick"
	}
	out := t.TempDir()
	require.NoError(t, Build(writeRaw(t, rs), out))
	b, err := os.ReadFile(filepath.Join(out, "summary.md"))
	require.NoError(t, err)
	md := string(b)
	first, _, _ := strings.Cut(md, "\n")
	assert.Contains(t, first, "profile quick, a smoke run")
	assert.Contains(t, first, "not a result")
	assert.NotContains(t, md, "MISSED")
	assert.Contains(t, md, "0 met, 0 missed,")
	assert.Contains(t, md, "| idle: heapstack_per_conn ≤ 1024 B | "+prod+" @ conns_max=1000 | — | — | not judged at this scale | applies from conns_max=4,000; this case has 1,000 |")
	assert.Contains(t, md, "| fanout conns=10000: lat_p99_ms ≤ 1.2× floor's | "+prod+" | — | — | not judged at this scale | applies at conns=10,000; this run's largest fan-out is 300 |")
	assert.Contains(t, md, "not judged at this scale | applies from conns=500; this case has 200 |")
	assert.Contains(t, md, "| private: cpu_us_per_push ≤ 20 us through a batch of 100 | "+prod+" @ batch=100 lanes=8 rate=300 size=64 users=300 | — | — | not judged at this scale | applies from users=1,000; this case has 300 |")
}

// TestClusterTargets: the p99 at 1,000 subscribers per node against the
// flush interval + 10 ms and against one node at the same total, the CPU
// per delivery of three nodes against one node's; smaller cases not judged.
func TestClusterTargets(t *testing.T) {
	var rs rowSet
	cluster := func(conns, nodes, remote, p99, cpuUs float64) {
		p := map[string]float64{"conns": conns, "nodes": nodes, "size": 64, "rate": 20}
		if remote == 1 {
			p["remote"] = 1
		}
		rs.add("cluster", prod, 1, p, traffic(p99, cpuUs, 0.5))
	}
	cluster(1000, 1, 0, 18, 6)
	cluster(1000, 2, 1, 19, 7)
	cluster(3000, 1, 0, 30, 6)
	cluster(3000, 3, 0, 39, 10)
	cluster(300, 1, 0, 15, 6)
	cluster(300, 3, 0, 16, 6)
	out := t.TempDir()
	require.NoError(t, Build(writeRaw(t, rs), out))
	b, err := os.ReadFile(filepath.Join(out, "summary.md"))
	require.NoError(t, err)
	md := string(b)
	assert.Contains(t, md, "| cluster: lat_p99_ms ≤ flush interval + 10 ms at 1,000 subscribers per node | "+prod+" @ conns=1000 nodes=2 rate=20 remote=1 size=64 | 19.0 ms | ≤ 20.0 ms | ✅ met | 1.00 ms under the limit (-5%) |", "the remote case has no note")
	assert.Contains(t, md, "| cluster: lat_p99_ms ≤ flush interval + 10 ms at 1,000 subscribers per node | "+prod+" @ conns=3000 nodes=3 rate=20 size=64 | 39.0 ms | ≤ 20.0 ms | ❌ **MISSED** | missed by 19.0 ms (+95%); every node, NATS and the load generator share")
	assert.Contains(t, md, "| cluster: lat_p99_ms at 1,000 per node ≤ 1.2× one node's at the same total | "+prod+" @ conns=3000 nodes=3 rate=20 size=64 | 1.30× | ≤ 1.20× | ❌ **MISSED** |")
	assert.Contains(t, md, "| cluster: cpu_us_per_delivery on 3 nodes ≤ 1.5× one node's at the same total | "+prod+" @ conns=3000 nodes=3 rate=20 size=64 | 1.67× | ≤ 1.50× | ❌ **MISSED** |")
	assert.Contains(t, md, "| cluster: cpu_us_per_delivery on 3 nodes ≤ 1.5× one node's at the same total | "+prod+" @ conns=300 nodes=3 rate=20 size=64 | — | — | not judged at this scale | applies from conns=3,000; this case has 300 |")
	assert.NotContains(t, md, "lat_p99_ms ≤ flush interval + 10 ms at 1,000 subscribers per node | "+prod+" @ conns=300 ", "cases at 100 per node are left out when the run has 1,000 per node")
}
