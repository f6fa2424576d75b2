package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
)

const secret = "e2e-secret"

// variants are the server variants every client is proven against: the
// production one and a goroutine-per-connection one.
var variants = []string{"epoll-sharded-batched", "gorilla-sharded-immediate"}

// need returns the path of program, or skips t when it is missing (fails
// it under CI, which must have installed it).
func need(t *testing.T, program string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing: .ci/run installs it", program)
	}
	t.Skipf("%s is not installed: run .ci/run (or install it) to run this test", program)
	return ""
}

// start runs variant with JWT login.
func start(t *testing.T, variant string, tweak func(*server.Config)) *st.Server {
	return st.Start(t, variant, func(c *server.Config) {
		c.JWTSecret = secret
		if tweak != nil {
			tweak(c)
		}
	})
}

// token signs a login for uid.
func token(t *testing.T, uid string) string {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: uid, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString([]byte(secret))
	require.NoError(t, err)
	return tok
}

// push is one push through the HTTP API and the frame it must become.
type push struct {
	uid, topic, data string
	want             string
}

// pushes are a public, a private and a broadcast push for user alice on
// public channel news and private channel inbox; another user's private
// push in between must not arrive.
func pushes() []push {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	return []push{
		{topic: "news", data: "public hello", want: fmt.Sprintf(`{"code":7,"topic":"news","data":"%s"}`, b64("public hello"))},
		{uid: "bob", topic: "inbox", data: "not for alice"},
		{uid: "alice", topic: "inbox", data: "private hello", want: fmt.Sprintf(`{"code":8,"topic":"inbox","data":"%s"}`, b64("private hello"))},
		{data: "to everyone", want: fmt.Sprintf(`{"code":9,"data":"%s"}`, b64("to everyone"))},
	}
}

// send makes every push through the HTTP API and returns the frames alice
// must receive, in order.
func send(t *testing.T, s *st.Server) []string {
	var want []string
	for _, p := range pushes() {
		code, body, err := s.PushHTTP(st.PushJSON(p.uid, p.topic, []byte(p.data)), "")
		require.NoError(t, err)
		require.Equal(t, 200, code, body)
		if p.want != "" {
			want = append(want, p.want)
		}
	}
	return want
}

// wantReplies are the replies to the three requests, in order.
var wantReplies = []string{
	`{"code":1,"id":1,"topic":"news","status":0}`,
	`{"code":3,"id":2,"status":0}`,
	`{"code":5,"id":3,"topic":"inbox","status":0}`,
}
