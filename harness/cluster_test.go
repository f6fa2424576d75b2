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
	require.Len(t, rows, 2*len(ClusterNodes), "public and private rows")
	for i, r := range rows {
		f := r.Figures
		nodes := ClusterNodes[i%len(ClusterNodes)]
		assert.Equal(t, float64(nodes), r.Params["nodes"])
		assert.Equal(t, i >= len(ClusterNodes), r.Params["private"] == 1, "public rows first, then private")
		for _, n := range r.Notes {
			assert.NotContains(t, n, "error:", r.Case)
		}
		assert.Positive(t, f[FigPushesAccepted], r.Case)
		assert.Equal(t, f[FigExpected], f[FigDelivered], "%s: every accepted push delivered", r.Case)
		assert.Zero(t, f[FigOutOfOrder], r.Case)
		assert.Positive(t, f[FigCPUPerDelivery], r.Case)
		assert.Positive(t, f[FigLatP99], r.Case)
		if nodes > 1 {
			assert.Contains(t, f, FigBrokerCPU, "%s: the NATS process's CPU is counted", r.Case)
			assert.Equal(t, r.Config["node-id"] != "", true, r.Case)
		} else {
			assert.NotContains(t, r.Config, "broker", "one node runs without a broker")
		}
	}
}
