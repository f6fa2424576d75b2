// Package servertest runs a real gpush server in-process on loopback ports
// for tests, with real WebSocket clients and real gRPC and HTTP push calls.
package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/gpush/gpush/internal/server"
	"github.com/gpush/gpush/proto/pushpb"
)

// Server is a running server and its addresses.
type Server struct {
	*server.Server
	WSURL    string // ws://127.0.0.1:port/ws
	WSAddr   string
	GRPCAddr string
	HTTPURL  string        // http://127.0.0.1:port
	Config   server.Config // in force, defaults filled in

	connMu   sync.Mutex // guards grpcConn
	grpcConn *grpc.ClientConn
	stop     context.CancelFunc
	done     chan error
	across   *across // a view of cluster nodes (Across); nil for one server
}

// Start runs the named variant until the test ends and returns once it is
// ready (/readyz 200). tweak may change the config before the server is
// built.
func Start(t testing.TB, variant string, tweak func(*server.Config)) *Server {
	t.Helper()
	s := StartUnready(t, variant, tweak)
	require.Eventually(t, func() bool { return s.Ready() == http.StatusOK }, 5*time.Second, 5*time.Millisecond,
		"server never became ready")
	http.DefaultClient.CloseIdleConnections()
	return s
}

// StartUnready is Start without waiting for the server to become ready: a
// node whose broker is unreachable serves, but answers 503.
func StartUnready(t testing.TB, variant string, tweak func(*server.Config)) *Server {
	t.Helper()
	cfg := server.Config{
		WSAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Variant:      variant,
		DrainTimeout: 2 * time.Second,
		Logger:       slog.New(slog.DiscardHandler),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := server.New(cfg)
	require.NoError(t, err, "server.New")
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Server: srv, Config: srv.Config(), stop: cancel, done: make(chan error, 1)}
	var httpAddr string
	s.WSAddr, s.GRPCAddr, httpAddr = srv.Addr()
	s.WSURL = "ws://" + s.WSAddr + "/ws"
	s.HTTPURL = "http://" + httpAddr
	go func() { s.done <- srv.Serve(ctx) }()
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Shutdown begins the graceful shutdown, as SIGTERM does, and returns at
// once; Stop waits for it to end.
func (s *Server) Shutdown() {
	if s.stop != nil {
		s.stop()
	}
}

// Ready returns the status of GET /readyz, 0 when the request failed.
func (s *Server) Ready() int {
	resp, err := http.Get(s.HTTPURL + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Stop shuts the server down gracefully and waits for Serve to return.
// It is idempotent.
func (s *Server) Stop(t testing.TB) {
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	s.connMu.Lock()
	if s.grpcConn != nil {
		s.grpcConn.Close()
	}
	s.connMu.Unlock()
	select {
	case err := <-s.done:
		require.NoError(t, err, "Serve")
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop within 15 s")
	}
	http.DefaultClient.CloseIdleConnections()
}

// Client returns a gRPC push client on one connection to s, closed at Stop.
// It is safe for concurrent use.
func (s *Server) Client() (pushpb.PushClient, error) {
	if s.across != nil {
		return s.across.push.Client()
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.grpcConn == nil {
		cc, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		s.grpcConn = cc
	}
	return pushpb.NewPushClient(s.grpcConn), nil
}

// CallContext is a 10 s call context that carries key, when not empty, as
// the bearer API key.
func CallContext(key string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if key != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
	}
	return ctx, cancel
}

// PushGRPC pushes through the gRPC API; key, when not empty, is sent as
// the bearer API key.
func (s *Server) PushGRPC(uid, topic string, data []byte, key string) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	ctx, cancel := CallContext(key)
	defer cancel()
	_, err = c.PushData(ctx, &pushpb.Data{Uid: uid, Topic: topic, Data: data})
	return err
}

// PushBatchGRPC calls PushBatch with items.
func (s *Server) PushBatchGRPC(items []*pushpb.Data, key string) (*pushpb.BatchReply, error) {
	c, err := s.Client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := CallContext(key)
	defer cancel()
	return c.PushBatch(ctx, &pushpb.DataBatch{Items: items})
}

// PushHTTP posts body to /v1/pushData and returns the status and body.
func (s *Server) PushHTTP(body string, key string) (int, string, error) {
	return s.Post("/v1/pushData", body, key)
}

// Post posts a JSON body to path on the HTTP API and returns the status and
// the response body.
func (s *Server) Post(path, body, key string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, s.HTTPURL+path, bytes.NewBufferString(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// PushJSON builds the HTTP push body for uid, topic and data.
func PushJSON(uid, topic string, data []byte) string {
	b, _ := json.Marshal(map[string]any{"uid": uid, "topic": topic, "data": data})
	return string(b)
}

// Client is a real WebSocket client (gorilla/websocket) on loopback.
type Client struct {
	t  testing.TB
	WS *websocket.Conn
}

// Dial connects a client to s.
func (s *Server) Dial(t testing.TB) *Client {
	t.Helper()
	url := s.dialTarget().WSURL
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	require.NoError(t, err, "dial %s", url)
	resp.Body.Close()
	c := &Client{t: t, WS: ws}
	t.Cleanup(func() { ws.Close() })
	return c
}

// Msg is any server message: a reply or a push.
type Msg struct {
	Code    int             `json:"code"`
	ID      json.RawMessage `json:"id"`
	Topic   string          `json:"topic"`
	Status  *int            `json:"status"`
	Message string          `json:"message"`
	Data    []byte          `json:"data"`
	// History and recovery: nil when absent.
	Offset    *uint64 `json:"offset"`
	Epoch     *string `json:"epoch"`
	Recovered *bool   `json:"recovered"`
}

// Send sends one text message.
func (c *Client) Send(text string) {
	c.t.Helper()
	require.NoError(c.t, c.WS.WriteMessage(websocket.TextMessage, []byte(text)))
}

// Request sends {"code":code,"topic":topic,"data":data,"id":id} and
// returns the next message, which must be its reply.
func (c *Client) Request(code int, topic, data string, id int) Msg {
	c.t.Helper()
	req := map[string]any{"code": code, "id": id}
	if topic != "" {
		req["topic"] = topic
	}
	if data != "" {
		req["data"] = data
	}
	b, _ := json.Marshal(req)
	c.Send(string(b))
	m := c.Read()
	require.Equal(c.t, fmt.Sprint(id), string(m.ID), "reply id echo for %s", b)
	return m
}

// Read returns the next text message decoded, failing after 5 s.
func (c *Client) Read() Msg {
	c.t.Helper()
	raw := c.ReadRaw(5 * time.Second)
	var m Msg
	require.NoError(c.t, json.Unmarshal(raw, &m), "decode %q", raw)
	return m
}

// ReadRaw returns the next data message, failing after d.
func (c *Client) ReadRaw(d time.Duration) []byte {
	c.t.Helper()
	c.WS.SetReadDeadline(time.Now().Add(d))
	_, b, err := c.WS.ReadMessage()
	require.NoError(c.t, err, "read")
	return b
}

// NoMessage asserts that nothing arrives within d.
func (c *Client) NoMessage(d time.Duration) bool {
	c.WS.SetReadDeadline(time.Now().Add(d))
	_, b, err := c.WS.ReadMessage()
	if err == nil {
		c.t.Errorf("expected no message, got %q", b)
		return false
	}
	return true
}
