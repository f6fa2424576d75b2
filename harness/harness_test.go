package harness_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/gpush/gpush/harness"
	"github.com/gpush/gpush/harness/report"
)

// TestMain lets the test binary act as a load generator process.
func TestMain(m *testing.M) {
	if os.Getenv("GPUSH_LOADGEN") == "1" {
		if err := ServeLoadgen(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// buildServer compiles gpushd for the test.
func buildServer(t *testing.T) string { return buildCmd(t, "gpushd") }

// buildFloor compiles the floor server for the test.
func buildFloor(t *testing.T) string { return buildCmd(t, "gpush-floor") }

// buildCmd compiles cmd/<name> for the test.
func buildCmd(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "github.com/gpush/gpush/cmd/"+name)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run(), "build "+name)
	return bin
}

// TestBenchTiny runs every scenario at tiny scale against two variants and
// the floor (in the scenarios it serves), and checks that each writes
// sensible rows: the harness must keep working.
func TestBenchTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs servers")
	}
	self, err := os.Executable()
	require.NoError(t, err)
	out := t.TempDir()
	b := &Bench{
		Server: buildServer(t), Loadgen: []string{self},
		Externals: map[string]string{Floor: buildFloor(t)},
		Variants:  []string{"epoll-sharded-batched", "gorilla-global-immediate", Floor},
		Profile:   Profiles["tiny"], Runs: 1, Out: out, Progress: testWriter{t},
	}
	rows, err := b.Run()
	require.NoError(t, err)

	seen := map[string]int{}
	for _, r := range rows {
		seen[r.Scenario+"/"+r.Variant]++
		for _, n := range r.Notes {
			assert.NotContains(t, n, "error:", "%s %s %s", r.Scenario, r.Variant, r.Case)
		}
		assert.Equal(t, b.RunID, r.RunID)
		assert.NotEmpty(t, r.Machine.Kernel)
		assert.Equal(t, r.Variant, r.Config["variant"])
		switch r.Scenario {
		case "idle":
			require.Len(t, r.Points, len(b.Profile.Idle), r.Variant)
			assert.Greater(t, r.Figures[FigHeapStackPerConn], 0.0, r.Variant)
			assert.Equal(t, float64(b.Profile.Idle[2]), r.Points[2].Conns)
		case "storm":
			assert.Equal(t, float64(b.Profile.Storm.Conns), r.Figures[FigStormRecovered], r.Variant)
			assert.Zero(t, r.Figures[FigStormMissing], r.Variant)
			assert.Zero(t, r.Figures[FigOutOfOrder], r.Variant)
		default:
			f := r.Figures
			assert.Positive(t, f[FigPushesAccepted], "%s %s", r.Scenario, r.Variant)
			assert.Equal(t, f[FigExpected], f[FigDelivered], "%s %s %s: every accepted push delivered", r.Scenario, r.Variant, r.Case)
			assert.Zero(t, f[FigOutOfOrder], "%s %s", r.Scenario, r.Variant)
			assert.Zero(t, f[FigMisdelivered], "%s %s", r.Scenario, r.Variant)
			assert.Positive(t, f[FigLatP99], "%s %s", r.Scenario, r.Variant)
			assert.Positive(t, f[FigCPUPerDelivery], "%s %s", r.Scenario, r.Variant)
			assert.Contains(t, f, FigWritesPerDelivery)
			assert.Positive(t, f[FigCPUPerPush], "%s %s", r.Scenario, r.Variant)
			assert.Positive(t, f[FigPushCalls], "%s %s", r.Scenario, r.Variant)
		}
		if r.Scenario == "private" {
			seen["private/"+r.Variant+"/"+modeOf(r.Params)]++
		}
	}
	for _, v := range b.Variants {
		assert.Equal(t, 1, seen["idle/"+v], v)
		assert.Equal(t, len(b.Profile.Fanout), seen["fanout/"+v], v)
		assert.Equal(t, 2, seen["split/"+v], "split: a calm and an attacked row, %s", v)
		assert.Equal(t, 1, seen["flood/"+v], "flood %s", v)
		if v == Floor {
			continue
		}
		for _, sc := range []string{"churn", "storm"} {
			assert.Equal(t, 1, seen[sc+"/"+v], "%s %s", sc, v)
		}
		for _, m := range Modes {
			assert.Equal(t, 1, seen["private/"+v+"/"+m], "private: a row per push mode, %s %s", m, v)
		}
	}
	for _, sc := range []string{"private", "churn", "batch", "storm"} {
		assert.Zero(t, seen[sc+"/"+Floor], "the floor serves no %s", sc)
	}
	assert.Equal(t, len(b.Profile.FlushMs), seen["batch/epoll-sharded-batched"])
	assert.Zero(t, seen["batch/gorilla-global-immediate"], "batch is for batched variants only")

	raw, err := os.ReadFile(filepath.Join(out, "raw.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, len(rows), countLines(raw), "one raw line per row")

	// The report rebuilds from the raw rows alone.
	require.NoError(t, report.Build(filepath.Join(out, "raw.jsonl"), out))
	sum, err := os.ReadFile(filepath.Join(out, "summary.md"))
	require.NoError(t, err)
	assert.Contains(t, string(sum), b.RunID)
	for _, sc := range Scenarios {
		assert.Contains(t, string(sum), "## "+sc, "summary section")
	}
	for _, plot := range []string{"idle_heapstack", "fanout_p99", "flood_writes_per_delivery", "flood_cpu_per_delivery", "batch_p99", "split_p99", "private_p99", "churn_p99"} {
		for _, ext := range []string{".png", ".svg"} {
			st, err := os.Stat(filepath.Join(out, "plots", plot+ext))
			if assert.NoError(t, err, plot+ext) {
				assert.Positive(t, st.Size(), plot+ext)
			}
		}
	}
}

// modeOf names a row's push mode from its parameters.
func modeOf(params map[string]float64) string {
	switch {
	case params["batch"] > 0:
		return ModeBatch
	case params["stream"] > 0:
		return ModeStream
	}
	return ModeUnary
}

// TestBenchPushModes runs fan-out and flood with batch and stream pushes:
// every accepted push is delivered, in order, with fewer calls than pushes.
func TestBenchPushModes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs servers")
	}
	self, err := os.Executable()
	require.NoError(t, err)
	bin := buildServer(t)
	for _, mode := range []string{ModeBatch, ModeStream} {
		b := &Bench{
			Server: bin, Loadgen: []string{self}, Variants: []string{"epoll-sharded-batched"},
			Scenarios: []string{"fanout", "flood"}, Profile: Profiles["tiny"], Runs: 1,
			Out: t.TempDir(), Progress: testWriter{t}, PushMode: mode, BatchSize: 10,
		}
		rows, err := b.Run()
		require.NoError(t, err)
		require.Len(t, rows, len(b.Profile.Fanout)+1, mode)
		for _, r := range rows {
			f := r.Figures
			assert.Equal(t, mode, modeOf(r.Params), "%s %s", mode, r.Scenario)
			for _, n := range r.Notes {
				assert.NotContains(t, n, "error", "%s %s", mode, r.Scenario)
			}
			assert.Positive(t, f[FigPushesAccepted], "%s %s", mode, r.Scenario)
			assert.Equal(t, f[FigExpected], f[FigDelivered], "%s %s: every accepted push delivered", mode, r.Scenario)
			assert.Zero(t, f[FigOutOfOrder], "%s %s", mode, r.Scenario)
			assert.Less(t, f[FigPushCalls], f[FigPushesAccepted], "%s %s: a call carries many pushes", mode, r.Scenario)
		}
	}
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// TestBenchHistory runs fan-out with history on: the rows say so in their
// case, and carry the kept pushes and the heap they cost.
func TestBenchHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs servers")
	}
	self, err := os.Executable()
	require.NoError(t, err)
	b := &Bench{
		Server: buildServer(t), Loadgen: []string{self}, Variants: []string{"epoll-sharded-batched"},
		Scenarios: []string{"idle", "fanout"}, Profile: Profiles["tiny"], Runs: 1,
		Out: t.TempDir(), Progress: testWriter{t}, Flags: map[string]string{"history-size": "50"},
	}
	rows, err := b.Run()
	require.NoError(t, err)
	require.Len(t, rows, len(b.Profile.Fanout)+1)
	idle := rows[0]
	require.Equal(t, "idle", idle.Scenario)
	assert.Equal(t, float64(50*KeptChannels), idle.Figures[FigHistoryPushes], "the idle run fills its channels")
	assert.Contains(t, idle.Figures, FigHeapPerKeptPush)
	assert.Contains(t, idle.Figures, FigHeapPerChannel)
	for _, r := range rows[1:] {
		f := r.Figures
		assert.Equal(t, 50.0, r.Params["history"], "the case names the history size")
		assert.Contains(t, r.Case, "history=50")
		assert.Equal(t, f[FigExpected], f[FigDelivered], "every accepted push delivered")
		assert.Equal(t, min(f[FigPushesAccepted], 50), f[FigHistoryPushes], "every push kept, up to the size")
		assert.Equal(t, 1.0, f[FigHistoryChannels], "one channel")
	}
}

// TestBenchStorm drops every client of a server with history at once:
// each reconnects, recovers, and reads every accepted push in order.
func TestBenchStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs servers")
	}
	self, err := os.Executable()
	require.NoError(t, err)
	b := &Bench{
		Server: buildServer(t), Loadgen: []string{self}, Variants: []string{"epoll-sharded-batched"},
		Scenarios: []string{"storm"}, Profile: Profiles["tiny"], Runs: 1,
		Out: t.TempDir(), Progress: testWriter{t},
	}
	rows, err := b.Run()
	require.NoError(t, err)
	require.Len(t, rows, 1)
	r := rows[0]
	assert.Empty(t, r.Notes)
	f := r.Figures
	n := float64(b.Profile.Storm.Conns)
	assert.Equal(t, n, f[FigStormRecovered], "every client recovered")
	assert.Zero(t, f[FigStormNotRecovered])
	assert.Zero(t, f[FigStormMissing], "every accepted push read")
	assert.Zero(t, f[FigOutOfOrder], "each once, in order")
	assert.Positive(t, f[FigPushesAccepted])
	assert.Positive(t, f[FigStormAllDone])
	assert.Positive(t, f[FigStormPeakAccepts])
	assert.GreaterOrEqual(t, f[FigStormAttempts], n)
	assert.Equal(t, "1000", r.Config["history-size"], "the storm runs with history")
}
