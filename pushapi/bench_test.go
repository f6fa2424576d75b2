package pushapi_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/proto/pushpb"
)

// processCPU is this process's user+system CPU time.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// absentItems are n private pushes of 64 B to users nobody is logged in as:
// what they cost is the API's share alone, without delivery.
func absentItems(n int) []*pushpb.Data {
	items := make([]*pushpb.Data, n)
	for i := range items {
		items[i] = &pushpb.Data{Uid: fmt.Sprintf("absent%d", i), Topic: "inbox", Data: make([]byte, 64)}
	}
	return items
}

// report adds the figures per push: wall time and the CPU of the whole
// process (server and client in one, so an upper bound on the server's).
func report(b *testing.B, pushes int, cpu0 time.Duration) {
	cpu := processCPU(b) - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(pushes), "us/push")
	b.ReportMetric(cpu.Seconds()*1e6/float64(pushes), "cpu-us/push")
}

// BenchmarkAPICost measures the push API alone, over real gRPC on loopback,
// with pushes to users who are not connected: unary PushData, PushBatch of
// n items, and one PushStream. Run: go test -run '^$' -bench APICost ./pushapi
func BenchmarkAPICost(b *testing.B) {
	s := st.Start(b, "", nil)
	c, err := s.Client()
	require.NoError(b, err)
	b.Run("call=unary", func(b *testing.B) {
		item := absentItems(1)[0]
		cpu0 := processCPU(b)
		for b.Loop() {
			ctx, cancel := st.CallContext("")
			_, err := c.PushData(ctx, item)
			cancel()
			require.NoError(b, err)
		}
		report(b, b.N, cpu0)
	})
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("call=batch/items=%d", n), func(b *testing.B) {
			batch := &pushpb.DataBatch{Items: absentItems(n)}
			cpu0 := processCPU(b)
			for b.Loop() {
				ctx, cancel := st.CallContext("")
				_, err := c.PushBatch(ctx, batch)
				cancel()
				require.NoError(b, err)
			}
			report(b, b.N*n, cpu0)
		})
	}
	b.Run("call=http-unary", func(b *testing.B) {
		body := httpBody(absentItems(1)[:1], false)
		cpu0 := processCPU(b)
		for b.Loop() {
			post(b, s, "/v1/pushData", body)
		}
		report(b, b.N, cpu0)
	})
	b.Run("call=http-batch/items=500", func(b *testing.B) {
		body := httpBody(absentItems(500), true)
		cpu0 := processCPU(b)
		for b.Loop() {
			post(b, s, "/v1/pushBatch", body)
		}
		report(b, b.N*500, cpu0)
	})
	b.Run("call=stream", func(b *testing.B) {
		items := absentItems(100)
		ctx, cancel := st.CallContext("")
		defer cancel()
		stream, err := c.PushStream(ctx)
		require.NoError(b, err)
		cpu0 := processCPU(b)
		i := 0
		for b.Loop() {
			require.NoError(b, stream.Send(items[i%len(items)]))
			i++
		}
		_, err = stream.CloseAndRecv()
		require.NoError(b, err)
		report(b, b.N, cpu0)
	})
}

// httpBody is the JSON body of one push, or of a batch of items.
func httpBody(items []*pushpb.Data, batch bool) string {
	if !batch {
		return st.PushJSON(items[0].Uid, items[0].Topic, items[0].Data)
	}
	return batchJSON(items)
}

func post(b *testing.B, s *st.Server, path, body string) {
	code, resp, err := s.Post(path, body, "")
	require.NoError(b, err)
	require.Equal(b, 200, code, resp)
}
