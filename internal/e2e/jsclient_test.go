package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/internal/natstest"
)

// clientDir is clients/js, the JavaScript client.
func clientDir(t *testing.T) string {
	dir, err := filepath.Abs(filepath.Join("..", "..", "clients", "js"))
	require.NoError(t, err)
	return dir
}

// TestJSClientUnit runs the JavaScript client's own tests (node --test): the
// backoff and the state machine against a fake socket and clock.
func TestJSClientUnit(t *testing.T) {
	node := need(t, "node")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := clientDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "tests", "*.test.mjs"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "clients/js/tests has test files")
	cmd := exec.CommandContext(ctx, node, append([]string{"--test"}, files...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "node --test:\n%s", out)
	m := regexp.MustCompile(`(?m)^# pass (\d+)$`).FindSubmatch(out)
	require.NotNil(t, m, "node --test reports a pass count:\n%s", out)
	pass, _ := strconv.Atoi(string(m[1]))
	assert.Greater(t, pass, 20, "every unit test ran")
	assert.Regexp(t, `(?m)^# fail 0$`, string(out))
}

// jsLine is one line of node/jsclient.mjs's output.
type jsLine struct {
	Kind      string `json:"kind"`
	State     string `json:"state"`
	Code      int    `json:"code"`
	Reason    string `json:"reason"`
	Topic     string `json:"topic"`
	Private   bool   `json:"private"`
	Offset    *int   `json:"offset"`
	Epoch     string `json:"epoch"`
	Recovered *bool  `json:"recovered"`
	Text      string `json:"text"`
	Op        string `json:"op"`
	Message   string `json:"message"`
}

// jsClient is node/jsclient.mjs running: gpush's client under Node.
type jsClient struct {
	t     *testing.T
	mu    sync.Mutex
	lines []jsLine
	done  chan error
}

// runJSClient starts node/jsclient.mjs with env (GPUSH_ names without the prefix).
func runJSClient(t *testing.T, env map[string]string) *jsClient {
	node := need(t, "node")
	dir := nodeModules(t, need(t, "npm"))
	cmd := exec.Command(node, "jsclient.mjs")
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, "GPUSH_"+k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	c := &jsClient{t: t, done: make(chan error, 1)}
	t.Cleanup(func() { cmd.Process.Kill() })
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l jsLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				c.mu.Lock()
				c.lines = append(c.lines, l)
				c.mu.Unlock()
			}
		}
		c.done <- cmd.Wait()
	}()
	return c
}

// of returns the lines of kind so far.
func (c *jsClient) of(kind string) []jsLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []jsLine
	for _, l := range c.lines {
		if l.Kind == kind {
			out = append(out, l)
		}
	}
	return out
}

// waitFor polls until at least n lines of kind arrived (and match, when
// match is not nil), failing after d.
func (c *jsClient) waitFor(kind string, n int, match func(jsLine) bool, d time.Duration) []jsLine {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		var got []jsLine
		for _, l := range c.of(kind) {
			if match == nil || match(l) {
				got = append(got, l)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.t.Fatalf("waited %v for %d %q lines, have %d; output: %+v", d, n, kind, len(got), c.lines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits for the program to end by itself (it closes after its
// expected pushes) and requires exit status 0.
func (c *jsClient) wait(d time.Duration) {
	c.t.Helper()
	select {
	case err := <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		require.NoError(c.t, err, "jsclient.mjs ends well; output: %+v", c.lines)
	case <-time.After(d):
		c.mu.Lock()
		defer c.mu.Unlock()
		c.t.Fatalf("jsclient.mjs still runs after %v; output: %+v", d, c.lines)
	}
}

func texts(ls []jsLine) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Text)
	}
	return out
}

func offsets(ls []jsLine) []int {
	var out []int
	for _, l := range ls {
		if l.Offset == nil {
			out = append(out, -1)
		} else {
			out = append(out, *l.Offset)
		}
	}
	return out
}

// TestJSClientServerRestart: gpushd with history is killed mid-stream and
// started again on the same ports; the client reconnects by itself,
// resubscribes with since and is told recovered false (the new process's
// channel has a new epoch); every push made before the kill and after the
// restart arrives, in order, with offsets of their epoch.
func TestJSClientServerRestart(t *testing.T) {
	d := newDaemon(t, historyArgs(100)...)
	c := runJSClient(t, map[string]string{"URL": d.WSURL(), "TOPIC": "news", "EXPECT": "10",
		"MIN_DELAY": "100", "MAX_DELAY": "1000", "PING": "1000", "DEAD": "5000"})
	c.waitFor("ready", 1, nil, 20*time.Second)
	first := c.of("subscribed")[0]
	require.NotEmpty(t, first.Epoch, "history on: the subscribe reply carries an epoch")
	for i := 1; i <= 5; i++ {
		d.push("", "news", fmt.Sprintf("before %d", i))
	}
	c.waitFor("push", 5, nil, 10*time.Second)
	d.kill()
	c.waitFor("state", 1, func(l jsLine) bool { return l.State == "waiting" }, 10*time.Second)
	d.start()
	second := c.waitFor("subscribed", 2, nil, 20*time.Second)[1]
	for i := 1; i <= 5; i++ {
		d.push("", "news", fmt.Sprintf("after %d", i))
	}
	c.wait(20 * time.Second)

	pushes := c.of("push")
	assert.Equal(t, []string{"before 1", "before 2", "before 3", "before 4", "before 5",
		"after 1", "after 2", "after 3", "after 4", "after 5"}, texts(pushes))
	assert.Equal(t, []int{1, 2, 3, 4, 5, 1, 2, 3, 4, 5}, offsets(pushes), "offsets restart in the new epoch")
	require.NotNil(t, second.Recovered, "the resubscribe sent since: the reply says whether it recovered")
	assert.False(t, *second.Recovered, "a restarted server cannot replay: recovered false")
	assert.NotEqual(t, first.Epoch, second.Epoch, "a restart starts a new epoch")
	assert.Empty(t, c.of("error"), "no errors")
}

// TestJSClientNetworkDrop: between the client and a live gpushd with
// history sits a TCP proxy that first cuts the connection (both ends see it
// close) and later drops every byte without closing (only the client's
// watchdog can tell). Pushes flow on a public and a private channel
// throughout; the client receives every one exactly once, in order, and
// each recovery says recovered true. Every connect logs in with a fresh
// credential from getToken.
func TestJSClientNetworkDrop(t *testing.T) {
	d := newDaemon(t, historyArgs(1000)...)
	p := newProxy(t, d.wsAddr)
	const n = 300
	c := runJSClient(t, map[string]string{"URL": "ws://" + p.addr() + "/ws", "TOPIC": "news",
		"SECRET": secret, "USER": "alice", "PRIVATE": "inbox", "EXPECT": fmt.Sprint(n),
		"MIN_DELAY": "50", "MAX_DELAY": "500", "PING": "200", "DEAD": "1000"})
	c.waitFor("ready", 1, nil, 20*time.Second)
	require.NotEmpty(t, c.of("subscribed")[0].Epoch, "history on: the subscribe reply carries an epoch")
	var wantPub, wantPriv []string
	for i := 0; i < n; i++ {
		switch i {
		case n / 3:
			p.cut()
		case 2 * n / 3:
			p.blackhole()
		}
		text := fmt.Sprintf("push %d", i)
		if i%2 == 0 {
			d.push("", "news", text)
			wantPub = append(wantPub, text)
		} else {
			d.push("alice", "inbox", text)
			wantPriv = append(wantPriv, text)
		}
		time.Sleep(5 * time.Millisecond) // pushes keep flowing while the client is away
	}
	c.wait(30 * time.Second)

	var pub, priv []jsLine
	for _, l := range c.of("push") {
		if l.Private {
			priv = append(priv, l)
		} else {
			pub = append(pub, l)
		}
	}
	assert.Equal(t, wantPub, texts(pub), "public: every push once, in order")
	assert.Equal(t, wantPriv, texts(priv), "private: every push once, in order")
	resubs := c.of("subscribed")[2:]
	assert.GreaterOrEqual(t, len(resubs), 4, "both channels resubscribed after each of the two drops")
	for _, s := range resubs {
		if assert.NotNil(t, s.Recovered, "%+v", s) {
			assert.True(t, *s.Recovered, "the server was alive: %+v recovered", s)
		}
	}
	killed := c.waitFor("state", 1, func(l jsLine) bool { return l.State == "waiting" && strings.HasPrefix(l.Reason, "no frame") }, time.Second)
	assert.Len(t, killed, 1, "the silent drop was noticed by the watchdog")
	assert.Len(t, c.of("getToken"), len(c.of("subscribed"))/2, "getToken gave a fresh credential for every connect")
}

// TestJSClientBrokerResync: two gpushd nodes with history joined through a
// real NATS server; the client is on one, pushes are made on the other.
// The broker goes away and comes back: the client's node sends the resync
// notice (code 10), the client resubscribes with since by itself and is
// told recovered false (the node started a new epoch); pushes before and
// after arrive in order.
func TestJSClientBrokerResync(t *testing.T) {
	ns := natstest.Start(t)
	cluster := append(historyArgs(100), "-broker", ns.URL())
	a := newDaemon(t, append(cluster, "-node-id", "a")...)
	b := newDaemon(t, append(cluster, "-node-id", "b")...)
	c := runJSClient(t, map[string]string{"URL": a.WSURL(), "TOPIC": "news", "EXPECT": "4",
		"MIN_DELAY": "100", "MAX_DELAY": "1000", "PING": "1000", "DEAD": "5000"})
	c.waitFor("ready", 1, nil, 20*time.Second)
	b.push("", "news", "before 1")
	b.push("", "news", "before 2")
	c.waitFor("push", 2, nil, 10*time.Second)

	ns.Stop()
	ns.Restart(t)
	c.waitFor("resync", 1, nil, 30*time.Second)
	second := c.waitFor("subscribed", 2, nil, 10*time.Second)[1]
	b.waitReady()
	b.push("", "news", "after 1")
	b.push("", "news", "after 2")
	c.wait(20 * time.Second)

	assert.Equal(t, []string{"before 1", "before 2", "after 1", "after 2"}, texts(c.of("push")))
	first := c.of("subscribed")[0]
	require.NotNil(t, second.Recovered, "the resubscribe sent since")
	assert.False(t, *second.Recovered, "the node's channels started a new epoch: recovered false")
	assert.NotEqual(t, first.Epoch, second.Epoch)
	assert.Empty(t, c.of("error"), "no errors")
	var states []string
	for _, l := range c.of("state") {
		states = append(states, l.State)
	}
	assert.Equal(t, []string{"open", "closed"}, states, "one connection throughout, closed by the client at the end")
}
