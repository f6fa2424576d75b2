package main

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartServesClients(t *testing.T) {
	ns, err := start("127.0.0.1:0")
	require.NoError(t, err)
	defer ns.WaitForShutdown()
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	sub, err := nc.SubscribeSync("x")
	require.NoError(t, err)
	require.NoError(t, nc.Publish("x", []byte("hi")))
	m, err := sub.NextMsg(5e9)
	require.NoError(t, err)
	assert.Equal(t, "hi", string(m.Data))
	_, err = start("127.0.0.1:notaport")
	assert.Error(t, err, "a bad address is refused")
}
