package conformance

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/core/wsframe/wsclient"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/proto/pushpb"
	"github.com/gpush/gpush/variants"
)

const secret = "conformance-secret"

func token(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(t, err)
	return s
}

func validToken(t *testing.T, uid string) string {
	return token(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": uid, "exp": time.Now().Add(time.Hour).Unix()})
}

// cases are the behaviours every variant must show. Each runs against a
// fresh server of the variant.
var cases = []struct {
	name  string
	tweak func(*server.Config)
	run   func(t *testing.T, s *st.Server)
}{
	{"ops", nil, testOps},
	{"pipelined", nil, testPipelined},
	{"targets", nil, testTargets},
	{"isolation", nil, testIsolation},
	{"order", nil, testOrder},
	{"batch-order", nil, testBatchOrder},
	{"ping", nil, testPing},
	{"close-handshake", nil, testCloseHandshake},
	{"idle-timeout", func(c *server.Config) { c.Limits.IdleTimeout = 300 * time.Millisecond }, testIdle},
	{"login", nil, testLogin},
	{"expiry", nil, testExpiry},
	{"bad-requests", func(c *server.Config) { c.Limits.MaxSubs = 3 }, testBadRequests},
	{"violations", nil, testViolations},
	{"bad-pushes", nil, testBadPushes},
	{"api-key", func(c *server.Config) { c.APIKey = "k3y" }, testAPIKey},
}

func TestConformance(t *testing.T) {
	for _, v := range variants.Names() {
		t.Run("variant="+v, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
					s := st.Start(t, v, func(cfg *server.Config) {
						cfg.JWTSecret = secret
						if c.tweak != nil {
							c.tweak(cfg)
						}
					})
					c.run(t, s)
					s.Stop(t)
				})
			}
		})
	}
}

func ok(t *testing.T, m st.Msg, code int) {
	t.Helper()
	require.NotNil(t, m.Status, "reply without status: %+v", m)
	assert.Equal(t, code, m.Code, "reply code")
	assert.Equal(t, 0, *m.Status, "status of code %d: %s", code, m.Message)
}

func status_(t *testing.T, m st.Msg, code, want int) {
	t.Helper()
	require.NotNil(t, m.Status, "reply without status: %+v", m)
	assert.Equal(t, code, m.Code, "reply code")
	assert.Equal(t, want, *m.Status, "status (message %q)", m.Message)
	assert.NotEmpty(t, m.Message, "an error reply says what is wrong")
}

func testOps(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	m := c.Request(1, "news", "", 1)
	ok(t, m, 1)
	assert.Equal(t, "news", m.Topic)
	ok(t, c.Request(2, "news", "", 2), 2)
	ok(t, c.Request(2, "never", "", 3), 2) // unsubscribing what is not subscribed is done too
	ok(t, c.Request(1, "news", "", 4), 1)
	ok(t, c.Request(1, "news", "", 5), 1) // subscribing twice is done too
	ok(t, c.Request(3, "", validToken(t, "alice"), 6), 3)
	ok(t, c.Request(5, "orders", "", 7), 5)
	ok(t, c.Request(6, "orders", "", 8), 6)
	ok(t, c.Request(4, "", "", 9), 4)
	c.Send(`{"code":1,"topic":"x","id":"req-A"}`)
	m = c.Read()
	assert.Equal(t, `"req-A"`, string(m.ID), "a string id is echoed verbatim")
	c.Send(`{"code":1,"topic":"x"}`)
	m = c.Read()
	assert.Empty(t, m.ID, "no id, none echoed")
	ok(t, m, 1)
}

func testPipelined(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	const n = 20
	for i := range n {
		c.Send(fmt.Sprintf(`{"code":%d,"topic":"t%d","id":%d}`, 1+i%2, i, i))
	}
	for i := range n {
		m := c.Read()
		assert.Equal(t, strconv.Itoa(i), string(m.ID), "replies come in request order")
		ok(t, m, 1+i%2)
	}
}

func login(t *testing.T, c *st.Client, uid string) {
	t.Helper()
	ok(t, c.Request(3, "", validToken(t, uid), 100), 3)
}

func testTargets(t *testing.T, s *st.Server) {
	pub, priv, plain := s.Dial(t), s.Dial(t), s.Dial(t)
	ok(t, pub.Request(1, "news", "", 1), 1)
	login(t, priv, "bob")
	ok(t, priv.Request(5, "inbox", "", 2), 5)

	require.NoError(t, s.PushGRPC("", "news", []byte("g-topic"), ""))
	m := pub.Read()
	assert.Equal(t, 7, m.Code)
	assert.Equal(t, "news", m.Topic)
	assert.Equal(t, "g-topic", string(m.Data))

	code, body, err := s.PushHTTP(st.PushJSON("", "news", []byte("h-topic")), "")
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	assert.JSONEq(t, `{}`, body)
	assert.Equal(t, "h-topic", string(pub.Read().Data))

	require.NoError(t, s.PushGRPC("bob", "inbox", []byte("g-user"), ""))
	m = priv.Read()
	assert.Equal(t, 8, m.Code)
	assert.Equal(t, "inbox", m.Topic)
	assert.Equal(t, "g-user", string(m.Data))

	code, _, err = s.PushHTTP(st.PushJSON("bob", "inbox", []byte("h-user")), "")
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	assert.Equal(t, "h-user", string(priv.Read().Data))

	code, _, err = s.PushHTTP(st.PushJSON("", "", []byte("to-all")), "")
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	for _, c := range []*st.Client{pub, priv, plain} {
		m := c.Read()
		assert.Equal(t, 9, m.Code)
		assert.Equal(t, "to-all", string(m.Data))
	}
}

// testIsolation checks who does not get a private push: the first message
// each bystander gets afterwards must be the broadcast marker.
func testIsolation(t *testing.T, s *st.Server) {
	public, other, loggedOut, target := s.Dial(t), s.Dial(t), s.Dial(t), s.Dial(t)
	ok(t, public.Request(1, "inbox", "", 1), 1)
	login(t, other, "mallory")
	ok(t, other.Request(5, "inbox", "", 2), 5)
	login(t, loggedOut, "alice")
	ok(t, loggedOut.Request(5, "inbox", "", 3), 5)
	ok(t, loggedOut.Request(4, "", "", 4), 4)
	login(t, target, "alice")
	ok(t, target.Request(5, "inbox", "", 5), 5)

	require.NoError(t, s.PushGRPC("alice", "inbox", []byte("secret"), ""))
	require.NoError(t, s.PushGRPC("", "inbox", []byte("public"), ""))
	require.NoError(t, s.PushGRPC("", "", []byte("marker"), ""))

	m := target.Read()
	assert.Equal(t, "secret", string(m.Data), "the user gets its private push")
	assert.Equal(t, "marker", string(target.Read().Data), "a public push never reaches a private subscriber")
	assert.Equal(t, "public", string(public.Read().Data), "the public subscriber gets the public push first")
	assert.Equal(t, "marker", string(public.Read().Data))
	assert.Equal(t, "marker", string(other.Read().Data), "another user never gets alice's push")
	assert.Equal(t, "marker", string(loggedOut.Read().Data), "a logged-out connection gets no private push")
}

func testOrder(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	ok(t, c.Request(1, "seq", "", 1), 1)
	const n = 1000
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := s.PushGRPC("", "seq", []byte(strconv.Itoa(i)), ""); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range n {
		m := c.Read()
		require.Equal(t, strconv.Itoa(i), string(m.Data), "push %d out of order", i)
	}
	require.NoError(t, <-done)
}

// testBatchOrder: a batch's accepted items reach a connection in item
// order across its public, private and broadcast channels, refused items
// reach nobody, and a second batch follows the first.
func testBatchOrder(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	login(t, c, "ann")
	ok(t, c.Request(5, "inbox", "", 1), 5)
	ok(t, c.Request(1, "news", "", 2), 1)
	ok(t, c.Request(1, "other", "", 3), 1)
	var items []*pushpb.Data
	var want []string
	for i := range 300 {
		d := &pushpb.Data{Data: []byte(strconv.Itoa(i))}
		switch i % 5 {
		case 0:
			d.Uid, d.Topic = "ann", "inbox"
		case 1:
			d.Topic = "news"
		case 2:
			d.Topic = "other"
		case 3: // to every connection
		case 4:
			d.Uid = "ann" // refused: uid without topic
		}
		items = append(items, d)
		if i%5 != 4 {
			want = append(want, string(d.Data))
		}
	}
	for half := range 2 {
		r, err := s.PushBatchGRPC(items[half*150:(half+1)*150], "")
		require.NoError(t, err)
		assert.Len(t, r.GetErrors(), 30, "one item in five refused")
	}
	for i, w := range want {
		require.Equal(t, w, string(c.Read().Data), "delivery %d in item order", i)
	}
}

func testPing(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	for _, p := range []string{"ping", "PING", "Ping"} {
		c.Send(p)
		assert.Equal(t, "pong", string(c.ReadRaw(5*time.Second)), "text %q", p)
	}
	pong := make(chan string, 1)
	c.WS.SetPongHandler(func(d string) error { pong <- d; return nil })
	require.NoError(t, c.WS.WriteControl(websocket.PingMessage, []byte("hb-1"), time.Now().Add(time.Second)))
	c.Send("ping") // answered after the pong control frame: frames are handled in order
	assert.Equal(t, "pong", string(c.ReadRaw(5*time.Second)))
	select {
	case d := <-pong:
		assert.Equal(t, "hb-1", d, "pong echoes the ping payload")
	default:
		t.Fatal("no pong control frame before the text pong")
	}
}

// testCloseHandshake: a client's close frame is answered with its code
// (see closeEcho for a peer that answers otherwise) and the socket closed.
func testCloseHandshake(t *testing.T, s *st.Server) {
	for _, sent := range []int{1000, 1001, 4000} {
		r := s.DialRaw(t)
		r.Write(wsclient.CloseFrame(ws.StatusCode(sent), "bye"))
		assert.Equal(t, closeEcho(t, s, sent), r.CloseCode(5*time.Second), "the answer to close %d", sent)
		assert.True(t, r.Closed(5*time.Second), "the server closes the socket after the handshake")
		require.Eventually(t, func() bool { return s.Hub().Stats().Conns.Load() == 0 }, 5*time.Second, 5*time.Millisecond)
	}
}

func testIdle(t *testing.T, s *st.Server) {
	r := s.DialRaw(t)
	busy := s.DialRaw(t)
	start := time.Now()
	for time.Since(start) < 600*time.Millisecond { // busy stays active
		busy.Write(st.Text("ping"))
		f, err := busy.Next(time.Second)
		require.NoError(t, err)
		require.Equal(t, "pong", string(f.Payload))
		time.Sleep(50 * time.Millisecond)
	}
	assert.Equal(t, 1001, r.CloseCode(5*time.Second), "an idle connection is closed with 1001")
	assert.True(t, r.Closed(5*time.Second))
	busy.Write(st.Text("ping"))
	f, err := busy.Next(time.Second)
	require.NoError(t, err, "an active connection stays open")
	assert.Equal(t, "pong", string(f.Payload))
}

func testLogin(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	expired := token(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "u", "exp": time.Now().Add(-time.Minute).Unix()})
	forged := token(t, jwt.SigningMethodHS256, []byte("wrong"), jwt.MapClaims{"sub": "u"})
	none := token(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "u"})
	hs512 := token(t, jwt.SigningMethodHS512, []byte(secret), jwt.MapClaims{"sub": "u"})
	for name, tok := range map[string]string{"expired": expired, "forged": forged, "alg-none": none, "hs512": hs512, "garbage": "x.y.z"} {
		status_(t, c.Request(3, "", tok, 1), 3, 401)
		status_(t, c.Request(5, "inbox", "", 2), 5, 401) // a failed login changes nothing
		_ = name
	}
	login(t, c, "carol")
	ok(t, c.Request(5, "inbox", "", 3), 5)
	require.NoError(t, s.PushGRPC("carol", "inbox", []byte("one"), ""))
	assert.Equal(t, "one", string(c.Read().Data))
	ok(t, c.Request(4, "", "", 4), 4)
	require.NoError(t, s.PushGRPC("carol", "inbox", []byte("two"), ""))
	require.NoError(t, s.PushGRPC("", "", []byte("marker"), ""))
	assert.Equal(t, "marker", string(c.Read().Data), "logout ends private delivery")
	status_(t, c.Request(5, "inbox", "", 5), 5, 401)

	// A login as another user leaves the first user's private channels.
	login(t, c, "carol")
	ok(t, c.Request(5, "inbox", "", 6), 5)
	login(t, c, "dave")
	require.NoError(t, s.PushGRPC("carol", "inbox", []byte("three"), ""))
	require.NoError(t, s.PushGRPC("", "", []byte("marker2"), ""))
	assert.Equal(t, "marker2", string(c.Read().Data), "a login as another user first logs out")
}

func testExpiry(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	tok := token(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "erin", "exp": time.Now().Add(1500 * time.Millisecond).Unix()})
	ok(t, c.Request(3, "", tok, 1), 3)
	ok(t, c.Request(5, "inbox", "", 2), 5)
	m := c.Read() // the expiry notice arrives unsolicited
	require.NotNil(t, m.Status)
	assert.Equal(t, 4, m.Code)
	assert.Equal(t, 401, *m.Status)
	assert.Equal(t, "credential expired", m.Message)
	assert.Empty(t, m.ID, "an unsolicited message carries no id")
	require.NoError(t, s.PushGRPC("erin", "inbox", []byte("late"), ""))
	require.NoError(t, s.PushGRPC("", "", []byte("marker"), ""))
	assert.Equal(t, "marker", string(c.Read().Data), "an expired credential ends private delivery")
}

func testBadRequests(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	c.Send(`{"code":1,"topic":`)
	m := c.Read()
	status_(t, m, 0, 400)
	c.Send(`{"code":42,"id":7}`)
	m = c.Read()
	status_(t, m, 0, 400)
	assert.Equal(t, "7", string(m.ID))
	c.Send(`{"code":"one","id":8}`)
	status_(t, c.Read(), 0, 400)
	c.Send(`[1,2]`)
	status_(t, c.Read(), 0, 400)
	status_(t, c.Request(1, "bad topic!", "", 9), 1, 400)
	status_(t, c.Request(1, string(make([]byte, 129)), "", 10), 1, 400)
	c.Send(`{"code":1,"id":11}`)
	status_(t, c.Read(), 1, 400) // missing topic
	status_(t, c.Request(5, "x", "", 12), 5, 401)
	c.Send(`{"code":5,"topic":"bad topic!","id":13}`)
	status_(t, c.Read(), 5, 401) // login is checked before the topic
	for i := range 3 {
		ok(t, c.Request(1, fmt.Sprintf("t%d", i), "", 20+i), 1)
	}
	status_(t, c.Request(1, "t3", "", 23), 1, 429)
	ok(t, c.Request(2, "t0", "", 24), 2)
	ok(t, c.Request(1, "t3", "", 25), 1) // still usable, and the limit counts what is held
	require.NoError(t, s.PushGRPC("", "t3", []byte("alive"), ""))
	assert.Equal(t, "alive", string(c.Read().Data), "the connection stays usable after bad requests")
}

func testViolations(t *testing.T, s *st.Server) {
	maxFrame := s.Config.Limits.MaxFrame
	cases := []struct {
		name  string
		frame []byte
		code  int
	}{
		{"oversized", st.Text(`{"code":1,"topic":"` + string(make([]byte, maxFrame)) + `"}`), 1009},
		{"unmasked", wsframe.AppendFrame(nil, ws.OpText, true, []byte(`{"code":1,"topic":"a"}`)), 1002},
		{"invalid-utf8", wsframe.AppendMaskedFrame(nil, ws.OpText, true, st.Mask, []byte{'"', 0xff, 0xfe, '"'}), 1007},
		{"reserved-bits", func() []byte { f := st.Text("ping"); f[0] |= 0x40; return f }(), 1002},
		{"binary", wsframe.AppendMaskedFrame(nil, ws.OpBinary, true, st.Mask, []byte("bin")), 1003},
		{"bad-opcode", wsframe.AppendMaskedFrame(nil, ws.OpCode(0x3), true, st.Mask, []byte("x")), 1002},
	}
	bystander := s.Dial(t)
	ok(t, bystander.Request(1, "b", "", 1), 1)
	for _, tc := range cases {
		before := closes(t, s, tc.code)
		r := s.DialRaw(t)
		r.Write(tc.frame)
		assert.Equal(t, tc.code, r.CloseCode(5*time.Second), tc.name)
		assert.True(t, r.Closed(5*time.Second), "%s: the socket is closed", tc.name)
		require.Eventually(t, func() bool { return conns(s) == 1 }, 5*time.Second, 5*time.Millisecond, "%s: only the bystander is left", tc.name)
		assert.Equal(t, before+1, closes(t, s, tc.code), "%s: close %d counted once", tc.name, tc.code)
	}
	require.NoError(t, s.PushGRPC("", "b", []byte("still"), ""))
	assert.Equal(t, "still", string(bystander.Read().Data), "violations close only the violator")
}

// closes returns how many closes with code s's nodes counted.
func closes(t *testing.T, s *st.Server, code int) int64 {
	i := slices.Index(core.CloseCodes[:], code)
	require.GreaterOrEqual(t, i, 0, "close code %d is counted", code)
	var n int64
	for _, node := range s.Nodes() {
		n += node.Hub().Stats().Closes[i].Load()
	}
	return n
}

// conns returns how many connections s's nodes hold.
func conns(s *st.Server) int64 {
	var n int64
	for _, node := range s.Nodes() {
		n += node.Hub().Stats().Conns.Load()
	}
	return n
}

func testBadPushes(t *testing.T, s *st.Server) {
	for name, body := range map[string]string{
		"bad-base64":   `{"topic":"t","data":"!!!"}`,
		"bad-json":     `{"topic":`,
		"uid-no-topic": `{"uid":"u","data":"aGk="}`,
		"bad-topic":    `{"topic":"a b","data":"aGk="}`,
		"oversized":    st.PushJSON("", "t", make([]byte, s.Config.Limits.MaxPayload+1)),
	} {
		code, body, err := s.PushHTTP(body, "")
		require.NoError(t, err, name)
		assert.Equal(t, 400, code, "%s: %s", name, body)
		assert.NotEmpty(t, body, "%s: the error says what is wrong", name)
	}
	for name, err := range map[string]error{
		"uid-no-topic": s.PushGRPC("u", "", []byte("x"), ""),
		"oversized":    s.PushGRPC("", "t", make([]byte, s.Config.Limits.MaxPayload+1), ""),
		"bad-topic":    s.PushGRPC("", "a b", []byte("x"), ""),
	} {
		assert.Equal(t, codes.InvalidArgument, status.Code(err), name)
	}
}

func testAPIKey(t *testing.T, s *st.Server) {
	c := s.Dial(t)
	ok(t, c.Request(1, "k", "", 1), 1)
	for _, key := range []string{"", "wrong"} {
		code, _, err := s.PushHTTP(st.PushJSON("", "k", []byte("x")), key)
		require.NoError(t, err)
		assert.Equal(t, 401, code, "HTTP with key %q", key)
		assert.Equal(t, codes.Unauthenticated, status.Code(s.PushGRPC("", "k", []byte("x"), key)), "gRPC with key %q", key)
	}
	code, _, err := s.PushHTTP(st.PushJSON("", "k", []byte("http")), "k3y")
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	require.NoError(t, s.PushGRPC("", "k", []byte("grpc"), "k3y"))
	assert.Equal(t, "http", string(c.Read().Data))
	assert.Equal(t, "grpc", string(c.Read().Data))
}
