package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// binDir holds the gpushd the tests build, once per test binary.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binErr   error
	binBuild []byte
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// gpushdBin builds cmd/gpushd (without the race detector: it runs as a
// separate program, as in production) and returns its path.
func gpushdBin(t *testing.T) string {
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "gpush-e2e-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "gpushd")
		binBuild, binErr = exec.Command("go", "build", "-o", binPath, "github.com/gpush/gpush/cmd/gpushd").CombinedOutput()
	})
	require.NoError(t, binErr, "go build gpushd: %s", binBuild)
	return binPath
}

// historyArgs are the flags that turn server history on, size pushes per
// channel.
func historyArgs(size int) []string {
	return []string{"-history-size", fmt.Sprint(size)}
}

// daemon is a gpushd process on fixed loopback ports, so that it can be
// killed and started again where its clients reconnect.
type daemon struct {
	t                    *testing.T
	args                 []string
	wsAddr, httpAddr, gr string
	cmd                  *exec.Cmd
	log                  *bytes.Buffer
}

// freePort returns a loopback address nobody listens on right now.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// newDaemon starts gpushd with JWT login, args added; t's cleanup kills it.
func newDaemon(t *testing.T, args ...string) *daemon {
	d := &daemon{t: t, args: args, wsAddr: freePort(t), httpAddr: freePort(t), gr: freePort(t)}
	t.Cleanup(func() {
		if d.cmd != nil {
			d.kill()
		}
	})
	d.start()
	return d
}

// WSURL is the WebSocket URL.
func (d *daemon) WSURL() string { return "ws://" + d.wsAddr + "/ws" }

// start runs the process and waits until /readyz answers 200.
func (d *daemon) start() {
	t := d.t
	args := append([]string{"-ws-addr", d.wsAddr, "-http-addr", d.httpAddr, "-grpc-addr", d.gr,
		"-jwt-secret", secret, "-log-level", "warn"}, d.args...)
	d.log = &bytes.Buffer{}
	d.cmd = exec.Command(gpushdBin(t), args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	require.NoError(t, d.cmd.Start())
	d.waitReady()
}

// waitReady waits until /readyz answers 200 (a clustered node: until its
// broker link is up).
func (d *daemon) waitReady() {
	t := d.t
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + d.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "gpushd ready within 20 s: %v\n%s", err, d.log)
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL: no drain, no close frames.
func (d *daemon) kill() { d.end(syscall.SIGKILL) }

// stop ends it with SIGTERM: every client gets 1001 going away.
func (d *daemon) stop() { d.end(syscall.SIGTERM) }

func (d *daemon) end(sig syscall.Signal) {
	d.cmd.Process.Signal(sig)
	d.cmd.Wait()
	d.cmd = nil
}

// push makes one push through the HTTP API.
func (d *daemon) push(uid, topic, data string) {
	body, _ := json.Marshal(map[string]string{"uid": uid, "topic": topic, "data": base64.StdEncoding.EncodeToString([]byte(data))})
	resp, err := http.Post("http://"+d.httpAddr+"/v1/pushData", "application/json", bytes.NewReader(body))
	require.NoError(d.t, err)
	resp.Body.Close()
	require.Equal(d.t, 200, resp.StatusCode, "push %s", data)
}
