package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

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
