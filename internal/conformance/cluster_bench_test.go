package conformance

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/internal/natstest"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/proto/pushpb"
	"github.com/gpush/gpush/variants"
)

// BenchmarkClusterPush: one back end pushing one after another to a
// subscriber, on one node (nodes=1, no broker) and across two nodes through
// NATS (push on one, subscriber on the other), unary calls and batches of
// 100. Reports the time per push from the call to the subscriber's read.
//
//	go test -run '^$' -bench BenchmarkClusterPush -benchtime 2000x ./internal/conformance/
func BenchmarkClusterPush(b *testing.B) {
	for _, nodes := range []int{1, 2} {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("nodes=%d/batch=%d", nodes, batch), func(b *testing.B) {
				push, sub := pushAndListen(b, nodes)
				c := sub.Dial(b)
				c.Request(1, "bench", "", 1)
				items := make([]*pushpb.Data, batch)
				for i := range items {
					items[i] = &pushpb.Data{Topic: "bench", Data: []byte(strconv.Itoa(i))}
				}
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i += batch {
					if batch == 1 {
						require.NoError(b, push.PushGRPC("", "bench", []byte("x"), ""))
					} else {
						_, err := push.PushBatchGRPC(items, "")
						require.NoError(b, err)
					}
					for range batch {
						c.ReadRaw(5 * time.Second)
					}
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "us/push")
			})
		}
	}
}

// pushAndListen starts the servers of a cluster benchmark: one node (no
// broker) that both takes pushes and serves the subscriber, or two nodes
// through NATS, the first serving the subscriber and the second taking the
// pushes.
func pushAndListen(b *testing.B, nodes int) (push, sub *st.Server) {
	if nodes == 1 {
		s := st.Start(b, variants.Default, nil)
		return s, s
	}
	n := st.StartNodes(b, 2, variants.Default, natstest.Start(b).URL(), nil)
	return n[1], n[0]
}
