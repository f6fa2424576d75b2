package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core/wsframe/wsclient"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
)

func TestMetrics(t *testing.T) {
	s := st.Start(t, "epoll-sharded-batched", nil)
	c := s.Dial(t)
	c.Request(1, "secret-topic-name", "", 1)
	require.NoError(t, s.PushGRPC("", "secret-topic-name", []byte("x"), ""))
	assert.Equal(t, "x", string(c.Read().Data))
	code, _, err := s.PushHTTP(`{"uid":"u"}`, "")
	require.NoError(t, err)
	require.Equal(t, 400, code)

	text := scrape(t, s)
	for _, want := range []string{
		"gpush_connections 1",
		"gpush_subscriptions 1",
		`gpush_pushes_total{target="topic"} 1`,
		"gpush_deliveries_total 1",
		`gpush_push_api_errors_total{code="InvalidArgument"} 1`,
		"gpush_write_batch_frames_count",
		"gpush_delivery_latency_seconds_bucket",
		`gpush_server_closes_total{code="1008"} 0`,
		"gpush_write_syscalls_total",
	} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, "secret-topic-name", "no metric is labelled by topic")
	assert.NotContains(t, []string{"", "0"}, metric(text, "gpush_write_batch_frames_count"), "gpush_write_batch_frames_count is counted")
	// A push is written by its flusher unless another kick of the same
	// connection (an EPOLLOUT edge) wrote it first: push until one is.
	for i := 0; metric(text, "gpush_flushes_total") == "0" && i < 50; i++ {
		require.NoError(t, s.PushGRPC("", "secret-topic-name", []byte("x"), ""))
		c.Read()
		text = scrape(t, s)
	}
	assert.NotContains(t, []string{"", "0"}, metric(text, "gpush_flushes_total"), "gpush_flushes_total is counted")
	for _, path := range []string{"/healthz", "/readyz"} {
		r, err := http.Get(s.HTTPURL + path)
		require.NoError(t, err)
		r.Body.Close()
		assert.Equal(t, 200, r.StatusCode, path)
	}
}

// TestMetricsPartialFrames: a client stopped in the middle of a frame
// shows as one parked parser and one buffer until the frame completes.
func TestMetricsPartialFrames(t *testing.T) {
	s := st.Start(t, "epoll-sharded-batched", nil)
	c := s.Dial(t)
	base := scrape(t, s)
	parked, bufs := metric(base, "gpush_partial_frame_parsers"), metric(base, "gpush_partial_frame_buffers")
	require.Equal(t, "0", parked, "no partial frame before the test")
	require.Equal(t, "0", bufs)

	frame := wsclient.Text(`{"code":1,"topic":"half","id":7}`)
	_, err := c.WS.NetConn().Write(frame[:10])
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		text := scrape(t, s)
		return metric(text, "gpush_partial_frame_parsers") == "1" && metric(text, "gpush_partial_frame_buffers") == "1"
	}, 5*time.Second, 10*time.Millisecond, "a half frame parks a parser and a buffer")

	_, err = c.WS.NetConn().Write(frame[10:])
	require.NoError(t, err)
	reply := c.Read()
	assert.Equal(t, "half", reply.Topic, "the frame completed is served")
	require.Eventually(t, func() bool {
		text := scrape(t, s)
		return metric(text, "gpush_partial_frame_parsers") == "0" && metric(text, "gpush_partial_frame_buffers") == "0"
	}, 5*time.Second, 10*time.Millisecond, "the completed frame gives both back")
}

// scrape returns the text of /metrics.
func scrape(t *testing.T, s *st.Server) string {
	resp, err := http.Get(s.HTTPURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// metric returns the value of the unlabelled metric name in text, "" when
// it is missing.
func metric(text, name string) string {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestMemoryEndpointKey: /debug/gpush/memory forces a collection, so with
// an API key it answers only requests that carry the key.
func TestMemoryEndpointKey(t *testing.T) {
	s := st.Start(t, "epoll-sharded-batched", func(c *server.Config) { c.APIKey = "k3y" })
	get := func(auth string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, s.HTTPURL+"/debug/gpush/memory", nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, _ := get("")
	assert.Equal(t, http.StatusUnauthorized, code, "no key")
	code, _ = get("Bearer wrong")
	assert.Equal(t, http.StatusUnauthorized, code, "wrong key")
	code, body := get("Bearer k3y")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `"heap_bytes"`)
}

// TestMetricsRefusedUpgrades: upgrades refused for the request itself are
// counted by reason beside the gate's own refusals: a wrong path on every
// transport, and on the epoll loops, which read the request, a malformed
// one and one with headers past the limit.
func TestMetricsRefusedUpgrades(t *testing.T) {
	for _, v := range []string{"epoll-sharded-batched", "gorilla-sharded-immediate"} {
		t.Run("variant="+v, func(t *testing.T) {
			s := st.Start(t, v, func(c *server.Config) { c.AllowedOrigins = []string{"https://app.example.com"} })
			h := s.WSAddr
			send := func(req string) {
				nc, err := net.Dial("tcp", h)
				require.NoError(t, err)
				defer nc.Close()
				_, err = io.WriteString(nc, req)
				require.NoError(t, err)
				require.NoError(t, nc.SetReadDeadline(time.Now().Add(5*time.Second)), "a safety net, not a timing")
				resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
				require.NoError(t, err)
				resp.Body.Close()
			}
			send(wsclient.UpgradeRequest(h, "/nope"))
			send(wsclient.UpgradeRequest(h, "/ws", "Origin: https://evil.example.com\r\n"))
			want := map[string]string{"not_found": "1", "origin": "1"}
			if strings.HasPrefix(v, "epoll") {
				send(strings.Replace(wsclient.UpgradeRequest(h, "/ws"), "Sec-WebSocket-Key", "X-Key", 1))
				send(wsclient.UpgradeRequest(h, "/ws", "Cookie: "+strings.Repeat("a", 24<<10)+"\r\n"))
				want["bad_request"], want["too_large"] = "1", "1"
			}
			text := scrape(t, s)
			for reason, n := range want {
				assert.Equal(t, n, metric(text, `gpush_upgrades_rejected_total{reason="`+reason+`"}`), reason)
			}
		})
	}
}
