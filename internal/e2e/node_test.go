package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var npmOnce sync.Once

// nodeModules installs the pinned ws package once per test binary.
func nodeModules(t *testing.T, npm string) string {
	dir, err := filepath.Abs("node")
	require.NoError(t, err)
	var err2 error
	var out []byte
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws")); err == nil {
			return
		}
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		out, err2 = cmd.CombinedOutput()
	})
	require.NoError(t, err2, "npm ci: %s", out)
	return dir
}

// line is one line of client.mjs's output.
type line struct {
	Kind string `json:"kind"`
	Text string `json:"text"`
	Code int    `json:"code"`
}

// TestNodeWS: the ws package connects, subscribes, logs in with a JWT,
// subscribes privately, and receives public, private and broadcast pushes
// made through the HTTP API, exactly and in order, then closes with 1000.
func TestNodeWS(t *testing.T) {
	node := need(t, "node")
	npm := need(t, "npm")
	dir := nodeModules(t, npm)
	for _, v := range variants {
		t.Run("variant="+v, func(t *testing.T) {
			s := start(t, v, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "client.mjs")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(),
				"GPUSH_URL="+s.WSURL, "GPUSH_TOPIC=news", "GPUSH_PRIVATE=inbox",
				"GPUSH_TOKEN="+token(t, "alice"), "GPUSH_EXPECT="+strconv.Itoa(3))
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			cmd.Stderr = os.Stderr
			require.NoError(t, cmd.Start())
			lines := make(chan line)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					var l line
					if json.Unmarshal(sc.Bytes(), &l) == nil {
						lines <- l
					}
				}
			}()

			var replies, got []string
			var closeCode int
			var want []string
			for l := range lines {
				switch l.Kind {
				case "text":
					if want == nil {
						replies = append(replies, l.Text)
					} else {
						got = append(got, l.Text)
					}
				case "ready":
					want = send(t, s)
				case "close":
					closeCode = l.Code
				case "error", "binary":
					t.Errorf("client: %s %s", l.Kind, l.Text)
				}
			}
			require.NoError(t, cmd.Wait())
			assert.Equal(t, wantReplies, replies, "replies to subscribe, login, private subscribe")
			assert.Equal(t, want, got, "public, private and broadcast pushes, nothing of bob's")
			assert.Equal(t, 1000, closeCode, "the server echoed the client's close")
		})
	}
}
