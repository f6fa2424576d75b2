package conformance

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/proto/pushpb"
)

// BenchmarkClusterStream: one PushStream of b.N items to a subscriber, on
// one node (nodes=1) and across two nodes through NATS (stream on one,
// subscriber on the other). Reports the time per push from the first send
// to the subscriber's last read: with a broker, items that arrive while a
// confirming round trip is under way share the next one.
//
//	go test -run '^$' -bench BenchmarkClusterStream -benchtime 20000x ./internal/conformance/
func BenchmarkClusterStream(b *testing.B) {
	for _, nodes := range []int{1, 2} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			push, sub := pushAndListen(b, nodes)
			c := sub.Dial(b)
			c.Request(1, "bench", "", 1)
			cl, err := push.Client()
			require.NoError(b, err)
			ctx, cancel := st.CallContext("")
			defer cancel()
			stream, err := cl.PushStream(ctx)
			require.NoError(b, err)
			sent := make(chan error, 1)
			b.ResetTimer()
			start := time.Now()
			go func() {
				for i := range b.N {
					if err := stream.Send(&pushpb.Data{Topic: "bench", Data: []byte(strconv.Itoa(i))}); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			for range b.N {
				c.ReadRaw(10 * time.Second)
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "us/push")
			require.NoError(b, <-sent)
			_, err = stream.CloseAndRecv()
			require.NoError(b, err)
		})
	}
}
