package pushapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpush/gpush/internal/natstest"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/proto/pushpb"
)

const secret = "batch-secret"

// start runs the default variant with JWT login; key, when set, is the API
// key.
func start(t *testing.T, key string) *st.Server {
	t.Helper()
	return st.Start(t, "", func(c *server.Config) {
		c.JWTSecret = secret
		c.APIKey = key
	})
}

// user dials a client logged in as uid and subscribed to the private
// channel inbox and the public channel news.
func user(t *testing.T, s *st.Server, uid string) *st.Client {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": uid}).SignedString([]byte(secret))
	require.NoError(t, err)
	c := s.Dial(t)
	for i, req := range []struct {
		code        int
		topic, data string
	}{{3, "", tok}, {5, "inbox", ""}, {1, "news", ""}} {
		m := c.Request(req.code, req.topic, req.data, i+1)
		require.NotNil(t, m.Status, "reply to code %d", req.code)
		require.Equal(t, 0, *m.Status, "code %d: %s", req.code, m.Message)
	}
	return c
}

// expect reads len(want) pushes from c and checks their payloads in order,
// then that a marker pushed to everyone comes next (nothing else arrived).
func expect(t *testing.T, s *st.Server, c *st.Client, want ...string) {
	t.Helper()
	for i, w := range want {
		assert.Equal(t, w, string(c.Read().Data), "push %d", i)
	}
	require.NoError(t, s.PushGRPC("", "", []byte("marker"), s.Config.APIKey))
	assert.Equal(t, "marker", string(c.Read().Data), "nothing else was delivered")
}

// mixed is a batch of accepted and refused items; refused lists the indices
// the reply must name, delivered what alice receives, in order.
func mixed(maxPayload int) (items []*pushpb.Data, refused []uint32, delivered []string) {
	items = []*pushpb.Data{
		{Uid: "alice", Topic: "inbox", Data: []byte("0")},
		{Uid: "alice", Data: []byte("uid without topic")},
		{Topic: "news", Data: []byte("2")},
		{Topic: "a b", Data: []byte("bad topic")},
		{Topic: "news", Data: make([]byte, maxPayload+1)},
		{Data: []byte("5")},
		{Uid: "bob", Topic: "inbox", Data: []byte("not alice's")},
		{Uid: "alice", Topic: "inbox", Data: []byte("7")},
	}
	return items, []uint32{1, 3, 4}, []string{"0", "2", "5", "7"}
}

func TestPushBatchItemErrorsGRPC(t *testing.T) {
	s := start(t, "")
	alice := user(t, s, "alice")
	items, refused, delivered := mixed(s.Config.Limits.MaxPayload)
	reply, err := s.PushBatchGRPC(items, "")
	require.NoError(t, err)
	var got []uint32
	for _, e := range reply.GetErrors() {
		got = append(got, e.GetIndex())
		assert.NotEmpty(t, e.GetMessage(), "item %d: the error says what is wrong", e.GetIndex())
	}
	assert.Equal(t, refused, got, "each refused item once, ascending")
	expect(t, s, alice, delivered...)
}

// batchJSON is the HTTP body of items.
func batchJSON(items []*pushpb.Data) string {
	type item struct {
		UID   string `json:"uid,omitempty"`
		Topic string `json:"topic,omitempty"`
		Data  []byte `json:"data"`
	}
	body := struct {
		Items []item `json:"items"`
	}{Items: []item{}}
	for _, d := range items {
		body.Items = append(body.Items, item{d.Uid, d.Topic, d.Data})
	}
	b, _ := json.Marshal(body)
	return string(b)
}

type httpReply struct {
	Errors []struct {
		Index   uint32 `json:"index"`
		Message string `json:"message"`
	} `json:"errors"`
}

func TestPushBatchItemErrorsHTTP(t *testing.T) {
	s := start(t, "")
	alice := user(t, s, "alice")
	items, refused, delivered := mixed(s.Config.Limits.MaxPayload)
	code, body, err := s.Post("/v1/pushBatch", batchJSON(items), "")
	require.NoError(t, err)
	require.Equal(t, 200, code, body)
	var r httpReply
	require.NoError(t, json.Unmarshal([]byte(body), &r), body)
	var got []uint32
	for _, e := range r.Errors {
		got = append(got, e.Index)
		assert.NotEmpty(t, e.Message, "item %d", e.Index)
	}
	assert.Equal(t, refused, got, "each refused item once, ascending: %s", body)
	expect(t, s, alice, delivered...)
}

// publicItems are n pushes to news, payloads "0".."n-1".
func publicItems(n int) []*pushpb.Data {
	items := make([]*pushpb.Data, n)
	for i := range items {
		items[i] = &pushpb.Data{Topic: "news", Data: []byte(strconv.Itoa(i))}
	}
	return items
}

func TestPushBatchItemLimit(t *testing.T) {
	s := start(t, "")
	c := user(t, s, "carol")
	_, err := s.PushBatchGRPC(publicItems(1001), "")
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "1,001 items over gRPC")
	assert.Contains(t, status.Convert(err).Message(), "1000", "the error names the limit")
	code, body, err := s.Post("/v1/pushBatch", batchJSON(publicItems(1001)), "")
	require.NoError(t, err)
	assert.Equal(t, 400, code, "1,001 items over HTTP: %s", body)
	expect(t, s, c) // nothing of either batch was pushed

	reply, err := s.PushBatchGRPC(publicItems(1000), "")
	require.NoError(t, err, "1,000 items is the limit, not over it")
	assert.Empty(t, reply.GetErrors())
	for i := range 1000 {
		require.Equal(t, strconv.Itoa(i), string(c.Read().Data), "item %d in order", i)
	}
}

func TestPushBatchEmpty(t *testing.T) {
	s := start(t, "")
	reply, err := s.PushBatchGRPC(nil, "")
	require.NoError(t, err)
	assert.Empty(t, reply.GetErrors())
	for _, body := range []string{`{"items":[]}`, `{}`} {
		code, resp, err := s.Post("/v1/pushBatch", body, "")
		require.NoError(t, err)
		assert.Equal(t, 200, code, "%s: %s", body, resp)
		assert.JSONEq(t, `{"errors":[]}`, resp, body)
	}
}

func TestPushBatchBadBase64RefusesAll(t *testing.T) {
	s := start(t, "")
	c := user(t, s, "dave")
	body := `{"items":[{"topic":"news","data":"Zmlyc3Q="},{"topic":"news","data":"!!!"},{"topic":"news","data":"bGFzdA=="}]}`
	code, resp, err := s.Post("/v1/pushBatch", body, "")
	require.NoError(t, err)
	assert.Equal(t, 400, code, resp)
	assert.NotEmpty(t, resp, "the error says what is wrong")
	code, resp, err = s.Post("/v1/pushBatch", `{"items":[{"topic":`, "")
	require.NoError(t, err)
	assert.Equal(t, 400, code, "bad JSON: %s", resp)
	expect(t, s, c) // not even the valid items were pushed
}

func TestPushStream(t *testing.T) {
	s := start(t, "")
	alice := user(t, s, "alice")
	stream := openStream(t, s)
	items, refused, delivered := mixed(s.Config.Limits.MaxPayload)
	items = append(items, items...) // the second copy's indices follow the first's
	for _, d := range items {
		require.NoError(t, stream.Send(d))
	}
	reply, err := stream.CloseAndRecv()
	require.NoError(t, err)
	var got []uint32
	for _, e := range reply.GetErrors() {
		got = append(got, e.GetIndex())
		assert.NotEmpty(t, e.GetMessage())
	}
	want := append([]uint32{}, refused...)
	for _, i := range refused {
		want = append(want, i+uint32(len(items)/2))
	}
	assert.Equal(t, want, got, "refused items by their index in the stream")
	expect(t, s, alice, append(delivered, delivered...)...)
}

// TestPushStreamOrder: a long stream, gathered into publishes as it
// arrives, keeps stream order on a connection across its channels.
func TestPushStreamOrder(t *testing.T) {
	s := start(t, "")
	c := user(t, s, "hana")
	stream := openStream(t, s)
	const n = 3000
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range n {
			d := &pushpb.Data{Topic: "news", Data: []byte(strconv.Itoa(i))}
			if i%2 == 1 {
				d.Uid, d.Topic = "hana", "inbox"
			}
			if stream.Send(d) != nil {
				return // CloseAndRecv below says why
			}
		}
	}()
	for i := range n {
		require.Equal(t, strconv.Itoa(i), string(c.Read().Data), "item %d in stream order", i)
	}
	<-sent // Send and CloseSend must not run at once
	reply, err := stream.CloseAndRecv()
	require.NoError(t, err)
	assert.Empty(t, reply.GetErrors())
}

func TestPushStreamTooManyRefused(t *testing.T) {
	s := start(t, "")
	c := user(t, s, "erin")
	stream := openStream(t, s)
	require.NoError(t, stream.Send(&pushpb.Data{Topic: "news", Data: []byte("first")}))
	for range 1001 {
		if stream.Send(&pushpb.Data{Topic: "a b"}) != nil {
			break // the server ended the stream; CloseAndRecv says why
		}
	}
	_, err := stream.CloseAndRecv()
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "over 1,000 refused items ends the stream")
	assert.Contains(t, status.Convert(err).Message(), "item 1001")
	expect(t, s, c, "first")
}

func TestBatchAPIKey(t *testing.T) {
	s := start(t, "k3y")
	c := user(t, s, "frank")
	items := []*pushpb.Data{{Topic: "news", Data: []byte("x")}}
	cl, err := s.Client()
	require.NoError(t, err)
	for _, key := range []string{"", "wrong"} {
		_, err := s.PushBatchGRPC(items, key)
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "PushBatch with key %q", key)
		code, _, err := s.Post("/v1/pushBatch", batchJSON(items), key)
		require.NoError(t, err)
		assert.Equal(t, 401, code, "HTTP with key %q", key)
		ctx, cancel := st.CallContext(key)
		stream, err := cl.PushStream(ctx)
		require.NoError(t, err)
		if err := stream.Send(items[0]); err != nil {
			assert.ErrorIs(t, err, io.EOF, "a refused stream ends; CloseAndRecv says why")
		}
		_, err = stream.CloseAndRecv()
		cancel()
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "PushStream with key %q", key)
	}
	_, err = s.PushBatchGRPC([]*pushpb.Data{{Topic: "news", Data: []byte("grpc")}}, "k3y")
	require.NoError(t, err)
	code, body, err := s.Post("/v1/pushBatch", batchJSON([]*pushpb.Data{{Topic: "news", Data: []byte("http")}}), "k3y")
	require.NoError(t, err)
	assert.Equal(t, 200, code, body)
	ctx, cancel := st.CallContext("k3y")
	defer cancel()
	stream, err := cl.PushStream(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.Send(&pushpb.Data{Topic: "news", Data: []byte("stream")}))
	_, err = stream.CloseAndRecv()
	require.NoError(t, err)
	expect(t, s, c, "grpc", "http", "stream")
}

// TestPushBatchConcurrentCallers: batches from many callers at once each
// keep their own order on every connection (run with -race).
func TestPushBatchConcurrentCallers(t *testing.T) {
	s := start(t, "")
	c := user(t, s, "gina")
	const callers, batches, per = 4, 5, 50
	errs := make(chan error, callers)
	for k := range callers {
		go func() {
			for b := range batches {
				items := make([]*pushpb.Data, per)
				for i := range items {
					items[i] = &pushpb.Data{Topic: "news", Data: []byte(fmt.Sprintf("%d:%d", k, b*per+i))}
				}
				if _, err := s.PushBatchGRPC(items, ""); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	next := make([]int, callers)
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; n < callers*batches*per && time.Now().Before(deadline); n++ {
		k, i, ok := strings.Cut(string(c.Read().Data), ":")
		require.True(t, ok)
		ki, _ := strconv.Atoi(k)
		ii, _ := strconv.Atoi(i)
		require.Equal(t, next[ki], ii, "caller %d's items in order", ki)
		next[ki]++
	}
	for range callers {
		require.NoError(t, <-errs)
	}
	for k := range next {
		assert.Equal(t, batches*per, next[k], "caller %d: every item delivered", k)
	}
}

// TestPushStreamCluster: on a node with a broker, a stream's items are
// gathered into confirmed publishes; they still reach a user on another
// node in stream order, and refused items are listed by stream index.
func TestPushStreamCluster(t *testing.T) {
	nodes := st.StartNodes(t, 2, "", natstest.Start(t).URL(), func(c *server.Config) { c.JWTSecret = secret })
	sub, push := nodes[0], nodes[1]
	c := user(t, sub, "ivan")
	stream := openStream(t, push)
	const n = 2000
	var want []string
	var refused []uint32
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range n {
			d := &pushpb.Data{Topic: "news", Data: []byte(strconv.Itoa(i))}
			switch i % 3 {
			case 1:
				d.Uid, d.Topic = "ivan", "inbox"
			case 2:
				if i%100 == 2 {
					d.Topic = "a b" // refused
				}
			}
			if stream.Send(d) != nil {
				return // CloseAndRecv below says why
			}
		}
	}()
	for i := range n {
		if i%3 == 2 && i%100 == 2 {
			refused = append(refused, uint32(i))
			continue
		}
		want = append(want, strconv.Itoa(i))
	}
	for i, w := range want {
		require.Equal(t, w, string(c.Read().Data), "delivery %d in stream order", i)
	}
	<-sent // Send and CloseSend must not run at once
	reply, err := stream.CloseAndRecv()
	require.NoError(t, err)
	var got []uint32
	for _, e := range reply.GetErrors() {
		got = append(got, e.GetIndex())
	}
	assert.Equal(t, refused, got, "refused items by stream index")
	expect(t, push, c)
}

// openStream opens a PushStream to s, cancelled when the test ends.
func openStream(t *testing.T, s *st.Server) pushpb.Push_PushStreamClient {
	t.Helper()
	cl, err := s.Client()
	require.NoError(t, err)
	ctx, cancel := st.CallContext("")
	t.Cleanup(cancel)
	stream, err := cl.PushStream(ctx)
	require.NoError(t, err)
	return stream
}
