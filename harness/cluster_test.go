package harness_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/gpush/gpush/harness"
)

// TestClusterTiny runs the cluster scenario at tiny scale: one, two and
// three nodes, public fan-out and private pushes to users on every node,
// NATS as its own process, every accepted push delivered, CPU summed over
// every process.
func TestClusterTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs servers")
	}
	server := buildServer(t)
	cmd := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(server), "gpush-nats"), "github.com/gpush/gpush/cmd/gpush-nats")
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run(), "build gpush-nats")
	self, err := os.Executable()
	require.NoError(t, err)
	b := &Bench{
		Server: server, Loadgen: []string{self}, Scenarios: []string{"cluster"},
		Variants: []string{"epoll-sharded-batched"}, Profile: Profiles["tiny"], Runs: 1,
		Out: t.TempDir(), Progress: testWriter{t},
	}
	rows, err := b.Run()
	require.NoError(t, err)
	// 10 per node: 10 on 1; 20 on 1, 2; 30 on 1, 2, 3; 10 remote on 2; private 30 on 1, 2, 3
	require.Len(t, rows, 10, "public per-node totals on every node count up to theirs, remote, private")
	remote := 0
	for i, r := range rows {
		f := r.Figures
		nodes := r.Params["nodes"]
		assert.Equal(t, i >= 7, r.Params["private"] == 1, "public rows first, then private")
		if r.Params["remote"] != 1 {
			assert.LessOrEqual(t, nodes, r.Params["conns"]/10, "%s: at least 10 connections per node", r.Case)
		} else {
			remote++
			assert.Equal(t, []float64{2, 10}, []float64{nodes, r.Params["conns"]}, "the remote case: 10 connections, all on the second node")
		}
		for _, n := range r.Notes {
			assert.NotContains(t, n, "error:", r.Case)
		}
		assert.Positive(t, f[FigPushesAccepted], r.Case)
		assert.Equal(t, f[FigExpected], f[FigDelivered], "%s: every accepted push delivered", r.Case)
		assert.Zero(t, f[FigOutOfOrder], r.Case)
		assert.Positive(t, f[FigCPUPerDelivery], r.Case)
		assert.Positive(t, f[FigLatP99], r.Case)
		if r.Params["private"] != 1 {
			// one frame per push to each connection, each node writing its own: far above the first node alone (under 0.01 in a remote case)
			assert.Greater(t, f[FigWritesPerDelivery], 0.1, "%s: every node's writes counted", r.Case)
		}
		if nodes > 1 {
			assert.Contains(t, f, FigBrokerCPU, "%s: the NATS process's CPU is counted", r.Case)
			assert.Equal(t, r.Config["node-id"] != "", true, r.Case)
		} else {
			assert.NotContains(t, r.Config, "broker", "one node runs without a broker")
		}
	}
	assert.Equal(t, 1, remote, "one remote case")
}
