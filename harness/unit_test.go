package harness

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHistQuantiles(t *testing.T) {
	var h Hist
	for us := uint64(1); us <= 10000; us++ {
		h.Record(us)
	}
	m := Merged{}
	m.Add(h.Counts())
	require.Equal(t, uint64(10000), m.Total())
	// Bucket upper bounds are within ~3% of the exact value.
	assert.InEpsilon(t, 5.0, m.Quantile(0.5), 0.04, "p50 ms")
	assert.InEpsilon(t, 9.9, m.Quantile(0.99), 0.04, "p99 ms")
	assert.InEpsilon(t, 10.0, m.Quantile(1), 0.04, "max ms")
	for us := uint64(0); us < 1<<30; us = us*2 + 1 {
		assert.GreaterOrEqual(t, histValue(histIndex(us)), us, "bucket %d bounds %d", histIndex(us), us)
	}
	h.Reset()
	assert.Empty(t, h.Counts())
	assert.True(t, Merged{}.Quantile(0.5) != Merged{}.Quantile(0.5), "NaN when empty")
}

func TestSlope(t *testing.T) {
	x := []float64{1000, 5000, 10000, 15000}
	y := []float64{}
	for _, v := range x {
		y = append(y, 2e6+600*v)
	}
	assert.InDelta(t, 600, slope(x, y), 1e-6)
	assert.True(t, slope(x[:1], y[:1]) != slope(x[:1], y[:1]), "NaN from one point")
}

func TestPayloadRoundTrip(t *testing.T) {
	p := appendPayload(nil, 64, 123456789, 7, 42, 9)
	require.Len(t, p, 64)
	assert.NotEqual(t, byte('{'), p[0], "never mistaken for a JSON reply")
	sent, topic, seq, user, ok := payloadFields(p)
	require.True(t, ok)
	assert.Equal(t, []uint64{123456789, 7, 42, 9}, []uint64{sent, uint64(topic), uint64(seq), uint64(user)})
	_, _, _, _, ok = payloadFields(p[:payloadHeader-1])
	assert.False(t, ok, "short payload")
	assert.Len(t, appendPayload(nil, 4, 1, 0, 1, 0), payloadHeader, "at least the header")
}

func TestSampleSelf(t *testing.T) {
	s, err := SampleProc(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, s.RSSBytes)
	assert.Positive(t, s.Syscr+s.Syscw)
	assert.Positive(t, s.Threads)
	m0, err := SampleMachineCPU()
	require.NoError(t, err)
	assert.Positive(t, m0.Total)
	mc := ThisMachine()
	assert.NotEmpty(t, mc.Kernel)
	assert.Positive(t, mc.NumCPU)
	assert.Equal(t, map[string]int64{"syscr": 12, "VmRSS": 2048}, keyValues([]byte("syscr: 12\nVmRSS:\t  2048 kB\nbad line\nName:\tx"), ':'))
}

// The CPU figure must resolve a few milliseconds of work: a 10 ms tick
// counter reads zero for short windows on a busy machine.
func TestProcCPUResolution(t *testing.T) {
	c0, err := procCPU(os.Getpid())
	require.NoError(t, err)
	spin(t, 2*time.Millisecond)
	c1, err := procCPU(os.Getpid())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, c1-c0, 0.002, "2 ms of spinning is seen")
	assert.Less(t, c1-c0, 5.0, "and not wildly more")

	ticks, err := procStatCPU(os.Getpid())
	require.NoError(t, err)
	assert.InDelta(t, ticks, c1, 0.5, "both sources agree to within the tick sampling")

	_, err = procCPU(1 << 22) // above the kernel's largest pid_max
	assert.Error(t, err, "no such process")
}

// spin burns d of this thread's CPU time, not of wall time: on a busy
// machine a spinning thread gets less CPU than the wall clock shows, while
// the process's CPU clock moves at least as far as one of its threads'.
func spin(t *testing.T, d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	now := func() time.Duration {
		var ts unix.Timespec
		require.NoError(t, unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts))
		return time.Duration(ts.Nano())
	}
	for start := now(); now()-start < d; {
	}
}

// TestClusterJobs: every per-node total on every node count up to its own,
// the remote case, private pushes; the floor measures one node only.
func TestClusterJobs(t *testing.T) {
	cl := ClusterLoad{Load: Load{Conns: 3000, Rate: 19}, PerNode: 1000}
	name := func(js []job) []string {
		var s []string
		for _, j := range js {
			s = append(s, fmt.Sprintf("%d/%d r%v p%v", j.load.Conns, j.nodes, j.remote, j.private))
		}
		return s
	}
	assert.Equal(t, []string{
		"1000/1 rfalse pfalse", "2000/1 rfalse pfalse", "2000/2 rfalse pfalse",
		"3000/1 rfalse pfalse", "3000/2 rfalse pfalse", "3000/3 rfalse pfalse",
		"1000/2 rtrue pfalse", "3000/1 rfalse ptrue", "3000/2 rfalse ptrue", "3000/3 rfalse ptrue",
	}, name(clusterJobs(job{variant: "epoll-sharded-batched"}, cl)))
	assert.Equal(t, []string{"1000/1 rfalse pfalse", "2000/1 rfalse pfalse", "3000/1 rfalse pfalse"},
		name(clusterJobs(job{variant: Floor}, cl)), "the floor: one node, public")
	cl.Conns = 6000
	assert.Contains(t, name(clusterJobs(job{variant: "epoll-sharded-batched"}, cl)), "6000/3 rfalse pfalse", "another same total")
}
