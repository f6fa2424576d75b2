package core

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replyOf decodes a reply.
func replyOf(t *testing.T, js string) Reply {
	t.Helper()
	var r Reply
	require.NoError(t, json.Unmarshal([]byte(js), &r), "a reply is JSON: %s", js)
	return r
}

// pushes returns the push messages among the frames written since the last
// take.
func pushes(t *testing.T, l *fakeLink) []string {
	t.Helper()
	return texts(l.take(t))
}

func TestSessionSubscribe(t *testing.T) {
	h := newHarness(t, Config{})
	c, l := h.open()
	other, ol := h.open()

	assert.Equal(t, `{"code":1,"id":1,"topic":"news","status":0}`, h.request(c, l, `{"code":1,"topic":"news","id":1}`), "subscribe")
	assert.Equal(t, `{"code":1,"id":"again","topic":"news","status":0}`, h.request(c, l, `{"code":1,"topic":"news","id":"again"}`),
		"subscribing twice is done too")
	assert.Equal(t, int64(1), h.hub.Stats().Subscriptions.Load(), "one subscription")
	assert.Equal(t, 1, h.reg.subCount(), "one subscription indexed")

	p := Push{Topic: "news", Data: []byte("hi")}
	assert.Equal(t, 1, h.hub.Deliver(p), "the push reaches the subscriber")
	assert.Equal(t, []string{`{"code":7,"topic":"news","data":"aGk="}`}, pushes(t, l), "the subscriber got the push")
	assert.Empty(t, pushes(t, ol), "the other connection did not")

	assert.Equal(t, `{"code":2,"topic":"news","status":0}`, h.request(c, l, `{"code":2,"topic":"news"}`), "unsubscribe")
	assert.Equal(t, `{"code":2,"topic":"news","status":0}`, h.request(c, l, `{"code":2,"topic":"news"}`),
		"unsubscribing what is not subscribed is done too")
	assert.Zero(t, h.hub.Deliver(p), "nobody subscribed any more")
	assert.Empty(t, pushes(t, l), "nothing delivered")
	assert.Zero(t, h.hub.Stats().Subscriptions.Load(), "no subscriptions")
	assert.Zero(t, h.reg.subCount(), "nothing indexed")
	_ = other
}

func TestSessionBadRequests(t *testing.T) {
	h := newHarness(t, Config{Auth: usersAuth})
	c, l := h.open()
	cases := []struct {
		name, msg string
		code      Op
		id        string // JSON, "" = none
		status    int
		message   string
	}{
		{"malformed JSON", `{"code":1,`, OpInvalid, "", StatusBadRequest, "malformed JSON"},
		{"unknown code", `{"code":42,"id":3}`, OpInvalid, "3", StatusBadRequest, "unknown code 42"},
		{"code as string", `{"code":"1","topic":"t","id":"s"}`, OpInvalid, `"s"`, StatusBadRequest, "code must be an integer"},
		{"missing topic", `{"code":1,"id":4}`, OpSubscribe, "4", StatusBadRequest, "invalid topic"},
		{"bad topic", `{"code":2,"topic":"a b"}`, OpUnsubscribe, "", StatusBadRequest, "invalid topic"},
		{"topic not a string", `{"code":1,"topic":7,"id":8}`, OpSubscribe, "8", StatusBadRequest, "topic must be a string"},
		{"login data not a string", `{"code":3,"data":1}`, OpLogin, "", StatusBadRequest, "credential string"},
		{"logout needs login", `{"code":4,"id":5}`, OpLogout, "5", StatusUnauthorized, "login required"},
		{"private subscribe needs login", `{"code":5,"topic":"orders"}`, OpSubscribePrivate, "", StatusUnauthorized, "login required"},
		{"401 before 400 topic", `{"code":5,"topic":"bad topic!"}`, OpSubscribePrivate, "", StatusUnauthorized, "login required"},
		{"private unsubscribe needs login", `{"code":6,"topic":"orders"}`, OpUnsubscribePriv, "", StatusUnauthorized, "login required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := replyOf(t, h.request(c, l, tc.msg))
			assert.Equal(t, tc.code, r.Code, "code")
			assert.Equal(t, tc.status, r.Status, "status")
			assert.Contains(t, r.Message, tc.message, "message")
			if tc.id == "" {
				assert.Nil(t, r.ID, "no id")
			} else {
				assert.JSONEq(t, tc.id, string(r.ID), "id echoed")
			}
		})
	}
	assert.Zero(t, h.reg.subCount(), "no bad request subscribed anything")
	assert.False(t, c.Out.Closing(), "a bad request never closes the connection")
}

func TestSessionPing(t *testing.T) {
	h := newHarness(t, Config{})
	c, l := h.open()
	for _, ping := range []string{"ping", "PING", "PiNg"} {
		c.Handle(context.Background(), []byte(ping))
		fs := l.take(t)
		require.Len(t, fs, 1, "one answer to %q", ping)
		assert.Equal(t, OpcodeText, fs[0].op, "a text frame")
		assert.Equal(t, "pong", string(fs[0].payload), "pong")
	}
	c.Pong([]byte("abc"))
	fs := l.take(t)
	require.Len(t, fs, 1, "one answer to a ping control frame")
	assert.Equal(t, OpcodePong, fs[0].op, "a pong control frame")
	assert.Equal(t, "abc", string(fs[0].payload), "with the ping's payload")
}

func TestSessionInvalidUTF8Closes(t *testing.T) {
	h := newHarness(t, Config{})
	c, l := h.open()
	c.Handle(context.Background(), []byte("{\"code\":1,\"topic\":\"\xff\"}"))
	fs := l.take(t)
	require.Len(t, fs, 1, "a close frame")
	code, _ := fs[0].closeCode()
	assert.Equal(t, OpcodeClose, fs[0].op, "a close frame")
	assert.Equal(t, CloseInvalidData, code, "close 1007")
	assert.True(t, l.closed.Load(), "the transport was told to close")
	assert.True(t, eventually(func() bool { return h.reg.Len() == 0 }, 5*time.Second), "Hub.Closed ran")
}

func TestSessionLoginAndPrivate(t *testing.T) {
	h := newHarness(t, Config{Auth: usersAuth})
	c, l := h.open()
	pub, pl := h.open()
	h.request(pub, pl, `{"code":1,"topic":"orders"}`)

	assert.Equal(t, `{"code":3,"id":1,"status":0}`, h.request(c, l, `{"code":3,"data":"user:alice","id":1}`), "login")
	assert.Equal(t, "alice", c.UID(), "logged in as alice")
	assert.Equal(t, int64(1), h.hub.Stats().LoggedIn.Load(), "one connection logged in")
	assert.Equal(t, `{"code":5,"topic":"orders","status":0}`, h.request(c, l, `{"code":5,"topic":"orders"}`), "private subscribe")
	assert.Equal(t, `{"code":5,"topic":"bad topic!","status":400,"message":"invalid topic: byte ' ' at 3 is not one of A-Z a-z 0-9 _ - . : /"}`,
		h.request(c, l, `{"code":5,"topic":"bad topic!"}`), "logged in, the topic is checked")

	assert.Equal(t, 1, h.hub.Deliver(Push{UID: "alice", Topic: "orders", Data: []byte("p")}), "private push reaches alice")
	assert.Equal(t, []string{`{"code":8,"topic":"orders","data":"cA=="}`}, pushes(t, l), "alice got a code 8 push")
	assert.Empty(t, pushes(t, pl), "a public subscriber of the same name did not")

	assert.Equal(t, 1, h.hub.Deliver(Push{Topic: "orders", Data: []byte("q")}), "public push reaches the public subscriber")
	assert.Empty(t, pushes(t, l), "a private subscriber of the same name did not get the public push")
	assert.Equal(t, []string{`{"code":7,"topic":"orders","data":"cQ=="}`}, pushes(t, pl), "the public subscriber did")

	assert.Zero(t, h.hub.Deliver(Push{UID: "bob", Topic: "orders", Data: []byte("r")}), "another user's push reaches nobody")

	assert.Equal(t, `{"code":6,"topic":"orders","status":0}`, h.request(c, l, `{"code":6,"topic":"orders"}`), "private unsubscribe")
	assert.Zero(t, h.hub.Deliver(Push{UID: "alice", Topic: "orders"}), "unsubscribed")
}

func TestSessionLogout(t *testing.T) {
	h := newHarness(t, Config{Auth: usersAuth})
	c, l := h.open()
	h.request(c, l, `{"code":3,"data":"user:alice"}`)
	h.request(c, l, `{"code":5,"topic":"a"}`)
	h.request(c, l, `{"code":5,"topic":"b"}`)
	h.request(c, l, `{"code":1,"topic":"pub"}`)
	require.Equal(t, int64(3), h.hub.Stats().Subscriptions.Load(), "precondition: three subscriptions")

	assert.Equal(t, `{"code":4,"id":9,"status":0}`, h.request(c, l, `{"code":4,"id":9}`), "logout")
	assert.Empty(t, c.UID(), "logged out")
	assert.Zero(t, h.hub.Stats().LoggedIn.Load(), "nobody logged in")
	assert.Equal(t, int64(1), h.hub.Stats().Subscriptions.Load(), "the public subscription stays")
	assert.Zero(t, h.hub.Deliver(Push{UID: "alice", Topic: "a"}), "private channels left")
	assert.Equal(t, 1, h.hub.Deliver(Push{Topic: "pub"}), "public channel kept")
	l.take(t)
	assert.Equal(t, StatusUnauthorized, replyOf(t, h.request(c, l, `{"code":4}`)).Status, "a second logout needs a login")
}

func TestSessionLoginAsOtherUser(t *testing.T) {
	h := newHarness(t, Config{Auth: usersAuth})
	c, l := h.open()
	h.request(c, l, `{"code":3,"data":"user:alice"}`)
	h.request(c, l, `{"code":5,"topic":"orders"}`)
	h.request(c, l, `{"code":1,"topic":"news"}`)

	assert.Equal(t, StatusOK, replyOf(t, h.request(c, l, `{"code":3,"data":"user:alice"}`)).Status, "login as the same user")
	assert.Equal(t, 1, h.hub.Deliver(Push{UID: "alice", Topic: "orders"}), "the same user keeps its private channels")
	l.take(t)

	assert.Equal(t, StatusOK, replyOf(t, h.request(c, l, `{"code":3,"data":"user:bob"}`)).Status, "login as bob")
	assert.Equal(t, "bob", c.UID(), "now bob")
	assert.Zero(t, h.hub.Deliver(Push{UID: "alice", Topic: "orders"}), "alice's private channel was left")
	assert.Zero(t, h.hub.Deliver(Push{UID: "bob", Topic: "orders"}), "and not carried over to bob")
	assert.Equal(t, 1, h.hub.Deliver(Push{Topic: "news"}), "public channels stay")
	assert.Equal(t, int64(1), h.hub.Stats().LoggedIn.Load(), "one connection logged in")
	assert.Equal(t, int64(1), h.hub.Stats().Subscriptions.Load(), "one subscription left")
}

func TestSessionFailedLoginChangesNothing(t *testing.T) {
	serverDown := authFunc(func(_ context.Context, cred string) (Identity, error) {
		switch cred {
		case "down":
			return Identity{}, &ServerError{Err: fmt.Errorf("connection refused")}
		case "past":
			return Identity{UID: "alice", Expires: time.Now().Add(-time.Second)}, nil
		case "nouid":
			return Identity{}, nil
		}
		return usersAuth(context.Background(), cred)
	})
	h := newHarness(t, Config{Auth: serverDown})
	c, l := h.open()
	h.request(c, l, `{"code":3,"data":"user:alice"}`)
	h.request(c, l, `{"code":5,"topic":"orders"}`)

	cases := []struct {
		cred, message string
		status        int
	}{
		{"wrong", "credential refused: no such user", StatusUnauthorized},
		{"past", "credential refused: credential expired", StatusUnauthorized},
		{"nouid", "credential refused: credential names no user", StatusUnauthorized},
		{"down", "auth service failed: connection refused", StatusServerError},
	}
	for _, tc := range cases {
		r := replyOf(t, h.request(c, l, `{"code":3,"data":"`+tc.cred+`"}`))
		assert.Equal(t, tc.status, r.Status, "login %q: status", tc.cred)
		assert.Equal(t, tc.message, r.Message, "login %q: message", tc.cred)
		assert.Equal(t, "alice", c.UID(), "login %q: still alice", tc.cred)
		assert.Equal(t, 1, h.hub.Deliver(Push{UID: "alice", Topic: "orders"}), "login %q: private channel kept", tc.cred)
		pushes(t, l)
	}
	assert.Equal(t, int64(len(cases)), h.hub.Stats().AuthFailures.Load(), "every refusal counted")
	assert.Equal(t, int64(1), h.hub.Stats().LoggedIn.Load(), "still one connection logged in")
}

func TestSessionNoAuthenticator(t *testing.T) {
	h := newHarness(t, Config{})
	c, l := h.open()
	r := replyOf(t, h.request(c, l, `{"code":3,"data":"anything"}`))
	assert.Equal(t, StatusUnauthorized, r.Status, "login refused")
	assert.Equal(t, ErrNoAuth.Error(), r.Message, "because no login is configured")
	assert.Empty(t, c.UID(), "not logged in")
}

func TestSessionMaxSubs(t *testing.T) {
	h := newHarness(t, Config{Auth: usersAuth, Limits: Limits{MaxSubs: 3}})
	c, l := h.open()
	h.request(c, l, `{"code":3,"data":"user:alice"}`)
	for _, msg := range []string{`{"code":1,"topic":"a"}`, `{"code":1,"topic":"b"}`, `{"code":5,"topic":"a"}`} {
		require.Equal(t, StatusOK, replyOf(t, h.request(c, l, msg)).Status, "%s within the limit", msg)
	}
	assert.Equal(t, `{"code":1,"topic":"c","status":429,"message":"over 3 subscriptions"}`,
		h.request(c, l, `{"code":1,"topic":"c"}`), "a fourth public subscription")
	assert.Equal(t, StatusTooMany, replyOf(t, h.request(c, l, `{"code":5,"topic":"c"}`)).Status,
		"a fourth private subscription: public and private count together")
	assert.Equal(t, StatusOK, replyOf(t, h.request(c, l, `{"code":1,"topic":"a"}`)).Status,
		"subscribing again to what is subscribed is done")
	assert.Zero(t, h.hub.Deliver(Push{Topic: "c"}), "the refused subscription does not exist")
	assert.Equal(t, int64(3), h.hub.Stats().Subscriptions.Load(), "three subscriptions")

	h.request(c, l, `{"code":2,"topic":"b"}`)
	assert.Equal(t, StatusOK, replyOf(t, h.request(c, l, `{"code":1,"topic":"c"}`)).Status, "room again after an unsubscribe")
}

func TestSessionRateLimit(t *testing.T) {
	h := newHarness(t, Config{Limits: Limits{MaxReqRate: 3}})
	c, l := h.open()
	for i := range 3 {
		require.Equal(t, StatusOK, replyOf(t, h.request(c, l, fmt.Sprintf(`{"code":1,"topic":"t%d"}`, i))).Status,
			"request %d within the rate", i)
	}
	assert.Equal(t, `{"code":1,"topic":"x","status":429,"message":"over 3 requests per second"}`,
		h.request(c, l, `{"code":1,"topic":"x"}`), "the fourth request at once")
	assert.Equal(t, StatusBadRequest, replyOf(t, h.request(c, l, `{"code":1,"topic":"bad topic"}`)).Status,
		"400 topic is checked before 429")
	assert.Zero(t, h.hub.Deliver(Push{Topic: "x"}), "the refused request did nothing")
	require.True(t, eventually(func() bool { return tokensNow(c) >= 1 }, 5*time.Second), "the bucket refills")
	assert.Equal(t, StatusOK, replyOf(t, h.request(c, l, `{"code":1,"topic":"x"}`)).Status, "a request after the refill is done")
	assert.Equal(t, 1, h.hub.Deliver(Push{Topic: "x"}), "and the request is done")
}

// tokensNow is the request bucket as Admit would find it now, without
// taking a token.
func tokensNow(c *Conn) float32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	rate := float32(c.hub.lim.MaxReqRate)
	return min(rate, c.tokens+rate*float32(time.Now().UnixNano()-c.refill)/1e9)
}

// TestSessionPingsCount (issue 11 item 2): pings, text or control, count as
// requests. A text ping beyond the limit gets no pong; control pings read
// together get one pong, for the latest; a client beyond twice the limit
// within a second is closed with 1008 "rate limit", and what it sent
// within the limit was answered first.
func TestSessionPingsCount(t *testing.T) {
	h := newHarness(t, Config{Limits: Limits{MaxReqRate: 10}})
	c, l := h.open()
	c.Hold() // as a transport that read it all at once
	for range 10 {
		c.Handle(context.Background(), []byte("ping"))
	}
	c.Handle(context.Background(), []byte(`{"code":1,"topic":"x","id":1}`))
	c.Handle(context.Background(), []byte("PING"))
	for i := range 5 {
		c.Pong([]byte{byte('a' + i)})
	}
	assert.Zero(t, l.kicks.Load(), "held: nothing kicked yet")
	assert.False(t, c.Out.Closing(), "17 requests are within twice the limit of 10")
	c.Release()
	assert.Equal(t, int64(1), l.kicks.Load(), "one kick for everything read together")
	fs := l.take(t)
	require.Len(t, fs, 12, "10 pongs, a 429, one control pong (no pong for the text ping over the limit)")
	assert.Equal(t, []string{"pong", "pong", "pong", "pong", "pong", "pong", "pong", "pong", "pong", "pong",
		`{"code":1,"id":1,"topic":"x","status":429,"message":"over 10 requests per second"}`}, texts(fs))
	assert.Equal(t, OpcodePong, fs[11].op, "the control pong")
	assert.Equal(t, "e", string(fs[11].payload), "one pong, for the latest ping")

	for range 3 {
		c.Pong(nil)
	}
	assert.False(t, c.Out.Closing(), "20 requests: twice the limit, not beyond")
	for i := 0; i < 10 && !c.Out.Closing(); i++ { // the 21st at once; a slow run refills a little
		c.Handle(context.Background(), []byte("ping"))
	}
	require.True(t, c.Out.Closing(), "beyond twice the limit within a second the connection is closed")
	fs = l.frames(t)
	code, reason := fs[len(fs)-1].closeCode()
	assert.Equal(t, ClosePolicy, code, "close 1008")
	assert.Equal(t, "rate limit", reason)
}

func TestSessionEchoClose(t *testing.T) {
	h := newHarness(t, Config{})
	c, l := h.open()
	c.EchoClose(CloseNormal)
	fs := l.take(t)
	require.Len(t, fs, 1, "one frame")
	code, _ := fs[0].closeCode()
	assert.Equal(t, CloseNormal, code, "the client's code echoed")

	c2, l2 := h.open()
	c2.EchoClose(0)
	fs = l2.take(t)
	require.Len(t, fs, 1, "one frame")
	assert.Equal(t, OpcodeClose, fs[0].op, "a close frame")
	assert.Empty(t, fs[0].payload, "an empty close answers an empty close")
	assert.False(t, c2.CloseWith(CloseGoingAway, ""), "already closing")
}

// TestSessionSlowLoginDoesNotBlockOthers: a login that waits on its
// Authenticator delays nobody else's login.
func TestSessionSlowLoginDoesNotBlockOthers(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	auth := authFunc(func(ctx context.Context, cred string) (Identity, error) {
		if cred == "slow" {
			close(started)
			<-release
		}
		return Identity{UID: cred}, nil
	})
	h := newHarness(t, Config{Auth: auth})
	slow, sl := h.open()
	fast, fl := h.open()
	done := make(chan struct{})
	go func() {
		defer close(done)
		slow.Handle(context.Background(), []byte(`{"code":3,"data":"slow"}`))
	}()
	<-started
	assert.Equal(t, `{"code":3,"status":0}`, h.request(fast, fl, `{"code":3,"data":"fast"}`), "the fast login is answered")
	assert.Equal(t, int64(1), h.hub.Stats().LoggedIn.Load(), "while the slow one still waits")
	select {
	case <-done:
		t.Fatal("the slow login returned before its Authenticator did")
	default:
	}
	close(release)
	<-done
	assert.Equal(t, []string{`{"code":3,"status":0}`}, texts(sl.take(t)), "the slow login is answered once released")
	assert.Equal(t, int64(2), h.hub.Stats().LoggedIn.Load(), "both logged in")
}

// TestSessionLoginAfterClosed: a login whose Authenticator answers after
// the connection is gone must not count the connection as logged in.
func TestSessionLoginAfterClosed(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	auth := authFunc(func(ctx context.Context, cred string) (Identity, error) {
		close(started)
		<-release
		return Identity{UID: "alice"}, nil
	})
	h := newHarness(t, Config{Auth: auth})
	c, _ := h.open()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Handle(context.Background(), []byte(`{"code":3,"data":"tok"}`))
	}()
	<-started
	h.hub.Closed(c)
	close(release)
	<-done
	assert.Zero(t, h.hub.Stats().LoggedIn.Load(), "a closed connection is not logged in")
	assert.Empty(t, c.UID(), "nor bound to a user")
	status, _ := c.subscribe(context.Background(), Request{Code: OpSubscribePrivate}, Sub{UID: "alice", Topic: "orders"})
	assert.Equal(t, StatusOK, status, "a later subscribe is a no-op")
	assert.Zero(t, h.hub.Stats().Subscriptions.Load(), "and indexes nothing")
}

func TestSessionLongMessageReply(t *testing.T) {
	h := newHarness(t, Config{})
	c, l := h.open()
	topic := strings.Repeat("t", MaxTopicLen+1)
	r := replyOf(t, h.request(c, l, `{"code":1,"topic":"`+topic+`"}`))
	assert.Equal(t, StatusBadRequest, r.Status, "an over-long topic")
	assert.Equal(t, topic, r.Topic, "is echoed")
}

// TestSessionPrivateSubscribeRacingExpiry replays, step by step, a private
// subscribe whose handler read the uid just before the sweep logged the
// connection out: the subscription must not outlive the login.
func TestSessionPrivateSubscribeRacingExpiry(t *testing.T) {
	h := newHarness(t, Config{Auth: usersAuth})
	c, l := h.open()
	h.request(c, l, `{"code":3,"data":"user:alice"}`)
	s := Sub{UID: c.UID(), Topic: "orders"} // apply has read the uid
	c.who.Store(&identity{uid: c.UID(), exp: 1})
	c.expire(time.Now().UnixNano()) // the sweep logs out
	require.Empty(t, c.UID(), "precondition: logged out")
	status, _ := c.subscribe(context.Background(), Request{Code: OpSubscribePrivate}, s) // apply goes on
	assert.Equal(t, StatusUnauthorized, status, "a private subscribe for a user no longer logged in is refused")
	assert.Zero(t, h.hub.Deliver(Push{UID: "alice", Topic: "orders"}), "alice's pushes do not reach the logged-out connection")
	assert.Zero(t, h.hub.Stats().Subscriptions.Load(), "no subscription counted")
}
