package harness

import (
	"encoding/json"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/core/wsframe/wsclient"
	"github.com/gpush/gpush/proto/pushpb"
)

// TestCentrifugoConfig: the generated config has the settings a fair run
// needs, under the keys Centrifugo v6 reads.
func TestCentrifugoConfig(t *testing.T) {
	b, err := CentrifugoConfig("127.0.0.1:18000", "key", "secret")
	require.NoError(t, err)
	var cfg map[string]map[string]any
	require.NoError(t, json.Unmarshal(b, &cfg))
	assert.Equal(t, "127.0.0.1", cfg["http_server"]["address"])
	assert.Equal(t, 18000.0, cfg["http_server"]["port"])
	assert.Equal(t, "key", cfg["http_api"]["key"])
	assert.Equal(t, "/ws", cfg["websocket"]["handler_prefix"], "the path the generators dial")
	assert.Equal(t, true, cfg["client"]["allow_anonymous_connect_without_token"])
	assert.Equal(t, "1h", cfg["client"]["ping_interval"])
	assert.Equal(t, map[string]any{"hmac_secret_key": "secret"}, cfg["client"]["token"])
	ns := cfg["channel"]["without_namespace"].(map[string]any)
	assert.Equal(t, true, ns["allow_subscribe_for_anonymous"])
	assert.Equal(t, true, ns["allow_user_limited_channels"])
	assert.NotContains(t, ns, "history_size", "no history: the default")
	assert.NotContains(t, ns, "presence", "no presence: the default")
	_, err = CentrifugoConfig("no-port", "key", "secret")
	assert.Error(t, err)
}

// TestTextPayload: the text form of a payload keeps its fields and length.
func TestTextPayload(t *testing.T) {
	p := appendPayload(nil, 64, 123456789012345, 7, 42, 9)
	txt := TextPayload(p)
	assert.Len(t, txt, 64)
	assert.Equal(t, "123456789012345.7.42.9.", string(txt[:23]))
	sent, topic, seq, user, ok := ParseTextPayload(txt)
	require.True(t, ok)
	assert.Equal(t, []uint64{123456789012345, 7, 42, 9}, []uint64{sent, uint64(topic), uint64(seq), uint64(user)})
	for _, bad := range []string{"", "12.3", "x.1.2.3.", "1.2.3.4"} {
		_, _, _, _, ok := ParseTextPayload([]byte(bad))
		assert.False(t, ok, bad)
	}
}

// TestPublishOf: private pushes go to the user-limited channel, the data
// is a JSON string.
func TestPublishOf(t *testing.T) {
	p := publishOf(&pushpb.Data{Uid: "u3", Topic: "inbox", Data: appendPayload(nil, 32, 5, 0, 1, 3)})
	assert.Equal(t, "inbox#u3", p.Channel)
	var s string
	require.NoError(t, json.Unmarshal(p.Data, &s))
	assert.Equal(t, "5.0.1.3.", s[:8])
	assert.Equal(t, "news", publishOf(&pushpb.Data{Topic: "news"}).Channel)
}

// TestCentrifugoRequests: one frame with a connect (a token for a private
// user) and a subscribe per channel, one reply expected each.
func TestCentrifugoRequests(t *testing.T) {
	var sub subscriber
	f, n, err := sub.centrifugoRequests(Cmd{Topics: []string{"a", "b", "c"}, PerConn: 2}, 1)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	_, p, used := wsframe.Cut(f)
	require.Equal(t, len(f), used, "one frame")
	assert.Equal(t, "{\"id\":1,\"connect\":{}}\n{\"id\":2,\"subscribe\":{\"channel\":\"b\"}}\n{\"id\":3,\"subscribe\":{\"channel\":\"c\"}}", string(p))

	f, n, err = sub.centrifugoRequests(Cmd{Private: "inbox", Secret: "s"}, 4)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	_, p, _ = wsframe.Cut(f)
	assert.Contains(t, string(p), `{"id":1,"connect":{"token":"ey`)
	assert.Contains(t, string(p), `{"id":2,"subscribe":{"channel":"inbox#u5"}}`)
	assert.Equal(t, uint32(5), sub.user)
}

// TestCentrifugoFrame: replies, a ping and publications several to a
// frame are each handled.
func TestCentrifugoFrame(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	var s subscribers
	sub := &subscriber{c: &wsclient.Conn{Conn: client}, hist: &s.hists[0], acks: make(chan int, 4), proto: ProtoCentrifugo}
	pong := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(centrifugoPong))
		_, err := io.ReadFull(server, b)
		if err == nil {
			pong <- b
		}
	}()
	pub := func(seq uint32) string {
		return `{"push":{"channel":"a","pub":{"data":"` + string(TextPayload(appendPayload(nil, 32, 1, 0, seq, 0))) + `","offset":3}}}`
	}
	frame := `{"id":1,"connect":{"client":"x"}}` + "\n" + `{"id":2,"error":{"code":103,"message":"permission denied"}}` + "\n{}\n" + pub(1) + "\n" + pub(2)
	s.centrifugoFrame(sub, []byte(frame), 10)
	assert.Equal(t, 0, <-sub.acks)
	assert.Equal(t, 1, <-sub.acks, "an error reply")
	assert.Equal(t, uint64(2), sub.delivered.Load())
	assert.Zero(t, sub.ooo.Load())
	assert.Equal(t, centrifugoPong, <-pong, "a ping is answered")
}

// TestPromValues reads unlabelled samples and ignores the rest.
func TestPromValues(t *testing.T) {
	text := "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 86\ngo_memstats_heap_alloc_bytes 1.9762312e+07\nother{a=\"b\"} 3\n"
	assert.Equal(t, []float64{86, 1.9762312e+07, 0}, promValues([]byte(text), "go_goroutines", "go_memstats_heap_alloc_bytes", "absent"))
}
