package conformance

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/cluster"
	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/internal/natstest"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/proto/pushpb"
	"github.com/gpush/gpush/variants"
)

// BenchmarkClusterInterest compares per-subject interest with a firehose
// (every node subscribed to every push) on three nodes whose clients each
// subscribe to a third of 300 channels: pushes spread over every channel
// are made on one node in batches of 99. It reports the pushes each node
// received from the broker per push made, and the CPU time of the whole
// test process (three nodes, the NATS server, clients, pusher) per push.
// The firehose is made here, not in the broker: see takeAll.
//
//	go test -run '^$' -bench BenchmarkClusterInterest -benchtime 30000x ./internal/conformance/
func BenchmarkClusterInterest(b *testing.B) {
	for _, firehose := range []bool{false, true} {
		b.Run(fmt.Sprintf("firehose=%v", firehose), func(b *testing.B) {
			ns := natstest.Start(b)
			nodes := st.StartNodes(b, 3, variants.Default, ns.URL(), nil)
			const topics = 300
			if firehose {
				for _, n := range nodes {
					takeAll(b, n.Broker(), topics)
				}
			}
			clients := make([]*st.Client, 3)
			for i := range clients {
				clients[i] = nodes[i].Dial(b)
				for t := i; t < topics; t += 3 {
					clients[i].Request(1, fmt.Sprintf("c%d", t), "", t)
				}
			}
			items := make([]*pushpb.Data, 99) // 33 for each node's client
			for i := range items {
				items[i] = &pushpb.Data{Topic: fmt.Sprintf("c%d", i), Data: []byte("x")}
			}
			received := func() (n int64) {
				for _, s := range nodes {
					n += s.Broker().Stats().Received.Load()
				}
				return n
			}
			r0, cpu0 := received(), cpuTime()
			b.ResetTimer()
			pushes := 0
			for ; pushes < b.N; pushes += len(items) {
				for i := range items { // the next 99 channels
					items[i].Topic = fmt.Sprintf("c%d", (pushes+i)%topics)
				}
				_, err := nodes[0].PushBatchGRPC(items, "")
				require.NoError(b, err)
				for _, c := range clients {
					for range len(items) / 3 {
						c.ReadRaw(5 * time.Second)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(received()-r0)/float64(pushes), "node_receptions/push")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(pushes), "cpu_us/push")
		})
	}
}

// takeAll makes br a firehose node for the benchmark's channels c0 ..
// c<topics-1>: it takes the node's broker interest in every one of them,
// as if a local client subscribed to each, so the node receives every push
// made in the cluster, and its hub delivers it to the local subscribers,
// none for two pushes out of three. The references are held until the
// node stops.
func takeAll(b *testing.B, br *cluster.Broker, topics int) {
	b.Helper()
	for t := range topics {
		require.NoError(b, br.Acquire(context.Background(), core.Sub{Topic: fmt.Sprintf("c%d", t)}), "interest in c%d", t)
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
