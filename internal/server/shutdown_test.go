package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gpush/gpush/core/wsframe/wsclient"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/proto/pushpb"
)

// TestShutdownCutsOpenPushStream: a push stream a back end keeps open does
// not hold the shutdown past the drain timeout: calls in flight get until
// then, and the rest are cut.
func TestShutdownCutsOpenPushStream(t *testing.T) {
	s := st.Start(t, "epoll-sharded-batched", func(c *server.Config) { c.DrainTimeout = time.Second })
	c := s.Dial(t)
	c.Request(1, "t", "", 1)
	cc, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := pushpb.NewPushClient(cc).PushStream(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.Send(&pushpb.Data{Topic: "t", Data: []byte("x")}))
	assert.Equal(t, "x", string(c.Read().Data), "the stream is open and serving")
	start := time.Now()
	s.Stop(t) // requires Serve to return nil within 15 s
	assert.Less(t, time.Since(start), 5*time.Second, "shutdown ends soon after the 1 s drain timeout")
	_, err = stream.CloseAndRecv()
	assert.Error(t, err, "the open stream was cut")
}

// TestUpgradeDuringDrain: an upgrade already past the gate when the
// shutdown begins completes, gets close 1001 at once, and does not stretch
// the drain (timeout 10 s). The gate hook holds the upgrade until the
// shutdown has begun, so the case is exact, not a race.
func TestUpgradeDuringDrain(t *testing.T) {
	for _, v := range []string{"epoll-sharded-batched", "gorilla-sharded-immediate"} {
		t.Run("variant="+v, func(t *testing.T) {
			entered, proceed := make(chan struct{}), make(chan struct{})
			server.SetGateHook(func() {
				close(entered)
				<-proceed
			})
			defer server.SetGateHook(nil)
			s := st.Start(t, v, func(c *server.Config) { c.DrainTimeout = 10 * time.Second })
			got := make(chan error, 1)
			go func() { got <- upgradeThenGoingAway(s.WSAddr) }()
			<-entered
			start := time.Now()
			s.Shutdown()
			require.Eventually(t, func() bool { return readyz(s) == http.StatusServiceUnavailable }, 5*time.Second, time.Millisecond, "the shutdown began")
			close(proceed)
			select {
			case err := <-got:
				assert.NoError(t, err, "the upgrade completes and gets 1001")
			case <-time.After(5 * time.Second):
				t.Fatal("the upgrade neither completed nor was refused")
			}
			s.Stop(t)
			assert.Less(t, time.Since(start), 3*time.Second, "the late upgrade does not stretch the 10 s drain")
		})
	}
}

func readyz(s *st.Server) int {
	resp, err := http.Get(s.HTTPURL + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// upgradeThenGoingAway upgrades and expects close 1001 as the first frame.
func upgradeThenGoingAway(addr string) error {
	deadline := time.Now().Add(8 * time.Second)
	c, err := wsclient.Dial(addr, wsclient.Config{Timeout: 8 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	code, err := c.NextClose()
	if err != nil {
		return fmt.Errorf("no close frame: %w", err)
	}
	if code != 1001 {
		return fmt.Errorf("close %d, not 1001", code)
	}
	return nil
}
