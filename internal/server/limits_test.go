package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/proto/pushpb"
)

const apiKey = "k3y"

// post sends head (request line and headers, without the blank line) and
// the first bytes of a body on a raw socket, keeps sending more (what more
// returns, until it returns nil or the socket fails), and returns the
// response status and whether the server closed the socket within 2 s of
// the response. It fails when no response comes within wait.
func post(t *testing.T, addr, head string, first []byte, more func() []byte, wait time.Duration) (int, bool) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	_, err = nc.Write(append([]byte(head+"\r\n\r\n"), first...))
	require.NoError(t, err)
	if more != nil {
		go func() {
			for b := more(); b != nil; b = more() {
				if _, err := nc.Write(b); err != nil {
					return
				}
			}
		}()
	}
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "a response within %v", wait)
	resp.Body.Close()
	nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = io.Copy(io.Discard, br)
	var ne net.Error
	return resp.StatusCode, err == nil || !(errors.As(err, &ne) && ne.Timeout())
}

// head is a push API request's head: key "" sends no Authorization.
func head(host, key, contentType string, extra ...string) string {
	h := "POST /v1/pushData HTTP/1.1\r\nHost: " + host
	if key != "" {
		h += "\r\nAuthorization: Bearer " + key
	}
	if contentType != "" {
		h += "\r\nContent-Type: " + contentType
	}
	for _, e := range extra {
		h += "\r\n" + e
	}
	return h
}

// endless returns a source of chunked-encoding chunks that never ends (the
// writer stops when the server closes), counting what it produced.
func endless(sent *int) func() []byte {
	chunk := []byte(fmt.Sprintf("%x\r\n%s\r\n", 32<<10, strings.Repeat("A", 32<<10)))
	return func() []byte {
		*sent += len(chunk)
		return chunk
	}
}

func httpHost(s *st.Server) string { return strings.TrimPrefix(s.HTTPURL, "http://") }

// TestPushAPIKeyBeforeBody: a call without the right key is answered 401
// before its body is read: a 64 MiB body announced and never sent, an
// endless chunked body, and bad JSON all get 401 at once, and the
// connection is closed after the answer.
func TestPushAPIKeyBeforeBody(t *testing.T) {
	s := st.Start(t, "epoll-sharded-batched", func(c *server.Config) { c.APIKey = apiKey })
	h := httpHost(s)
	for _, key := range []string{"", "wrong"} {
		code, closed := post(t, h, head(h, key, "application/json", "Content-Length: 67108864"), []byte("{"), nil, 3*time.Second)
		assert.Equal(t, 401, code, "key %q, 64 MiB announced", key)
		assert.True(t, closed, "key %q: closed after the 401", key)

		var sent int
		code, closed = post(t, h, head(h, key, "application/json", "Transfer-Encoding: chunked"), nil, endless(&sent), 3*time.Second)
		assert.Equal(t, 401, code, "key %q, endless chunked body", key)
		assert.True(t, closed, "key %q: an endless body is cut off after the 401", key)

		code, _ = post(t, h, head(h, key, "application/json", "Content-Length: 5"), []byte("{nope"), nil, 3*time.Second)
		assert.Equal(t, 401, code, "key %q, bad JSON", key)
	}
	code, _, err := s.PushHTTP(st.PushJSON("", "t", []byte("x")), apiKey)
	require.NoError(t, err)
	assert.Equal(t, 200, code, "the right key passes")
}

// TestPushAPIContentType: only application/json (parameters allowed) is
// accepted, so a browser's simple form post cannot push.
func TestPushAPIContentType(t *testing.T) {
	s := st.Start(t, "epoll-sharded-batched", nil)
	h := httpHost(s)
	body := st.PushJSON("", "t", []byte("x"))
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"} {
		code, closed := post(t, h, head(h, "", ct, fmt.Sprintf("Content-Length: %d", len(body))), []byte(body), nil, 3*time.Second)
		assert.Equal(t, 415, code, "Content-Type %q", ct)
		assert.True(t, closed, "Content-Type %q: closed after the 415", ct)
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON"} {
		req, err := http.NewRequest(http.MethodPost, s.HTTPURL+"/v1/pushData", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode, "Content-Type %q", ct)
	}
}

// TestPushAPIBodyLimit: a body over the limit gets 413 while it is read
// (at once when Content-Length says so), an endless chunked body is cut
// off, and a body within the limit is decoded as before.
func TestPushAPIBodyLimit(t *testing.T) {
	s := st.Start(t, "epoll-sharded-batched", func(c *server.Config) { c.MaxBody = 1 << 20 })
	h := httpHost(s)
	code, closed := post(t, h, head(h, "", "application/json", "Content-Length: 2097152"), []byte("{"), nil, 3*time.Second)
	assert.Equal(t, 413, code, "2 MiB announced, limit 1 MiB")
	assert.True(t, closed, "closed after the 413")

	var sent int
	code, closed = post(t, h, head(h, "", "application/json", "Transfer-Encoding: chunked"), []byte("5\r\n{\"a\":\r\n"), endless(&sent), 5*time.Second)
	assert.Equal(t, 413, code, "endless chunked body")
	assert.True(t, closed, "an endless body is cut off")
	t.Logf("the client sent %d KiB of an endless body", sent>>10)

	big := `{"topic":"t","data":"` + strings.Repeat("A", 1<<20) + `"}`
	code, _ = post(t, h, head(h, "", "application/json", fmt.Sprintf("Content-Length: %d", len(big))), []byte(big), nil, 5*time.Second)
	assert.Equal(t, 413, code, "a body just over the limit, sent whole")

	small := `{"topic":"t","data":"` + strings.Repeat("A", 900<<10) + `"}`
	code, _ = post(t, h, head(h, "", "application/json", fmt.Sprintf("Content-Length: %d", len(small))), []byte(small), nil, 5*time.Second)
	assert.Equal(t, 400, code, "a body within the limit is decoded: its payload is over max-payload")
}

// TestPushAPIBodyTimeout: a body that does not arrive within the body
// timeout gets 408 and the connection is closed.
func TestPushAPIBodyTimeout(t *testing.T) {
	s := st.Start(t, "epoll-sharded-batched", func(c *server.Config) { c.BodyTimeout = 300 * time.Millisecond })
	h := httpHost(s)
	start := time.Now()
	code, closed := post(t, h, head(h, "", "application/json", "Content-Length: 100"), []byte(`{"topic":`), nil, 5*time.Second)
	assert.Equal(t, 408, code, "a body announced and never sent")
	assert.True(t, closed, "closed after the 408")
	t.Logf("answered after %v", time.Since(start))

	trickle := 0
	code, _ = post(t, h, head(h, "", "application/json", "Transfer-Encoding: chunked"), nil, func() []byte {
		time.Sleep(50 * time.Millisecond)
		if trickle++; trickle > 200 {
			return nil
		}
		return []byte("1\r\n \r\n")
	}, 5*time.Second)
	assert.Equal(t, 408, code, "a body trickled a byte every 50 ms")
}

// TestPushAPIChecksInOrder: API key, then content type, then body size:
// a call that breaks several limits gets the first one's status.
func TestPushAPIChecksInOrder(t *testing.T) {
	s := st.Start(t, "epoll-sharded-batched", func(c *server.Config) { c.APIKey = apiKey; c.MaxBody = 1 << 10 })
	h := httpHost(s)
	big := strings.Repeat("x", 4096)
	for _, tc := range []struct {
		name, head, body string
		want             int
	}{
		{"no key, bad type, too big, bad JSON", head(h, "", "text/plain", "Content-Length: 4096"), big, 401},
		{"key, bad type, too big, bad JSON", head(h, apiKey, "text/plain", "Content-Length: 4096"), big, 415},
		{"key, JSON type, too big, bad JSON", head(h, apiKey, "application/json", "Content-Length: 4096"), big, 413},
		{"key, JSON type, bad JSON", head(h, apiKey, "application/json", "Content-Length: 100"), big[:100], 400},
	} {
		code, _ := post(t, h, tc.head, []byte(tc.body), nil, 3*time.Second)
		assert.Equal(t, tc.want, code, tc.name)
	}
}

// TestPushAPIHeaderLimit: request headers past 16 KiB get 431 on the push
// API port; 12 KiB pass.
func TestPushAPIHeaderLimit(t *testing.T) {
	s := st.Start(t, "epoll-sharded-batched", nil)
	h := httpHost(s)
	body := st.PushJSON("", "t", []byte("x"))
	code, _ := post(t, h, head(h, "", "application/json", "X-Pad: "+strings.Repeat("a", 24<<10), fmt.Sprintf("Content-Length: %d", len(body))), []byte(body), nil, 3*time.Second)
	assert.Equal(t, 431, code, "24 KiB of headers")
	code, _ = post(t, h, head(h, "", "application/json", "X-Pad: "+strings.Repeat("a", 12<<10), fmt.Sprintf("Content-Length: %d", len(body))), []byte(body), nil, 3*time.Second)
	assert.Equal(t, 200, code, "12 KiB of headers")
}

// TestGRPCLimits: the gRPC push API refuses a message over the body limit
// with ResourceExhausted and metadata over 64 KiB; within both, it pushes.
func TestGRPCLimits(t *testing.T) {
	s := st.Start(t, "epoll-sharded-batched", func(c *server.Config) { c.MaxBody = 1 << 20 })
	assert.Equal(t, 64<<10, s.Config.MaxMetadata, "default metadata limit")
	cc, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	push := func(md metadata.MD, size int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx = metadata.NewOutgoingContext(ctx, md)
		_, err := pushpb.NewPushClient(cc).PushData(ctx, &pushpb.Data{Topic: "t", Data: make([]byte, size)})
		return err
	}
	assert.Equal(t, codes.ResourceExhausted, status.Code(push(nil, 2<<20)), "a 2 MiB message, limit 1 MiB")
	err = push(metadata.Pairs("x-pad", strings.Repeat("a", 100<<10)), 1)
	assert.Error(t, err, "100 KiB of metadata")
	t.Logf("100 KiB of metadata: %v", err)
	require.NoError(t, push(metadata.Pairs("x-pad", strings.Repeat("a", 8<<10)), 1), "8 KiB of metadata, a small message")
}

// TestLimitDefaults: the request limits default to docs/protocol.md's figures.
func TestLimitDefaults(t *testing.T) {
	s := st.Start(t, "epoll-sharded-batched", nil)
	assert.Equal(t, 4<<20, s.Config.MaxBody)
	assert.Equal(t, 10*time.Second, s.Config.BodyTimeout)
	assert.Equal(t, 64<<10, s.Config.MaxMetadata)
	assert.Equal(t, 16<<10, s.Config.MaxHeaderBytes)
}

// TestGRPCMetadataLimitRaw: a client that ignores the server's advertised
// header list limit (64 KiB) and sends 100 KiB of metadata anyway is
// refused (grpc-go resets the stream, or closes the connection for a single
// value over the limit) instead of having its call served; 8 KiB is served.
func TestGRPCMetadataLimitRaw(t *testing.T) {
	s := st.Start(t, "epoll-sharded-batched", nil)
	pad := func(n int) [][2]string { // n fields of 1 KiB
		var f [][2]string
		for i := range n {
			f = append(f, [2]string{fmt.Sprintf("x-pad-%d", i), strings.Repeat("a", 1<<10)})
		}
		return f
	}
	assert.True(t, rawGRPCCall(t, s.GRPCAddr, pad(8)), "8 KiB of metadata: the call is served")
	assert.False(t, rawGRPCCall(t, s.GRPCAddr, pad(100)), "100 KiB of metadata in 100 fields: refused")
	assert.False(t, rawGRPCCall(t, s.GRPCAddr, [][2]string{{"x-pad", strings.Repeat("a", 100<<10)}}), "one 100 KiB field: refused")
}

// rawGRPCCall opens an HTTP/2 connection by hand, sends one PushData call
// head with extra metadata (no message: END_STREAM on the headers) and
// reports whether the server answered it (a HEADERS frame) rather than
// refusing it (RST_STREAM, GOAWAY or a closed connection).
func rawGRPCCall(t *testing.T, addr string, extra [][2]string) bool {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = io.WriteString(nc, http2.ClientPreface)
	require.NoError(t, err)
	fr := http2.NewFramer(nc, nc)
	require.NoError(t, fr.WriteSettings())
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	fields := append([][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", "/gpush.v1.Push/PushData"}, {":authority", addr},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	}, extra...)
	for _, f := range fields {
		require.NoError(t, enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}))
	}
	b := block.Bytes()
	const frag = 16 << 10
	n := min(frag, len(b))
	require.NoError(t, fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:n], EndStream: true, EndHeaders: n == len(b)}))
	for b = b[n:]; len(b) > 0; b = b[n:] {
		n = min(frag, len(b))
		require.NoError(t, fr.WriteContinuation(1, n == len(b), b[:n]))
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server neither answered nor refused the call")
			return false // closed
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingMaxHeaderListSize); ok {
				assert.Equal(t, uint32(64<<10), v, "advertised header list limit")
			}
			if !f.IsAck() {
				require.NoError(t, fr.WriteSettingsAck())
			}
		case *http2.RSTStreamFrame, *http2.GoAwayFrame:
			return false
		case *http2.HeadersFrame:
			return true
		}
	}
}
