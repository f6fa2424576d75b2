package readme

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = "../.."
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, b)
	return out
}

func TestReadmeSteps(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	curlLine, batchLine := "", ""
	for _, l := range strings.Split(string(readme), "\n") {
		switch {
		case strings.HasPrefix(l, "curl ") && strings.Contains(l, "/v1/pushData"):
			curlLine = l
		case strings.HasPrefix(l, "curl ") && strings.Contains(l, "/v1/pushBatch"):
			batchLine = l
		}
	}
	require.NotEmpty(t, curlLine, "the README has a curl push example")
	require.NotEmpty(t, batchLine, "the README has a curl batch example")

	dir := t.TempDir()
	server := exec.Command(build(t, dir, "./cmd/gpushd"))
	require.NoError(t, server.Start(), "make run's server")
	t.Cleanup(func() { server.Process.Signal(os.Interrupt); server.Wait() })

	var client *exec.Cmd
	var lines *bufio.Scanner
	bin := build(t, dir, "./cmd/gpushc")
	require.Eventually(t, func() bool { // until the server listens
		client = exec.Command(bin, "-topic", "news")
		stdout, err := client.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, client.Start())
		lines = bufio.NewScanner(stdout)
		if lines.Scan() {
			return true
		}
		client.Wait()
		return false
	}, 20*time.Second, 100*time.Millisecond, "gpushc never connected")
	t.Cleanup(func() { client.Process.Kill(); client.Wait() })
	assert.JSONEq(t, `{"code":1,"id":1,"topic":"news","status":0}`, lines.Text())

	out, err := exec.Command("sh", "-c", curlLine).CombinedOutput()
	require.NoError(t, err, "%s: %s", curlLine, out)
	assert.JSONEq(t, `{}`, string(out))
	require.True(t, lines.Scan(), "gpushc prints the push")
	assert.JSONEq(t, `{"code":7,"topic":"news","data":"aGVsbG8="}`, lines.Text())

	out, err = exec.Command("sh", "-c", batchLine).CombinedOutput()
	require.NoError(t, err, "%s: %s", batchLine, out)
	assert.JSONEq(t, `{"errors":[{"index":1,"message":"invalid push: uid \"alice\" given without a topic"}]}`, string(out))
	for _, data := range []string{"b25l", "dGhyZWU="} {
		require.True(t, lines.Scan(), "gpushc prints the batch's pushes")
		assert.JSONEq(t, `{"code":7,"topic":"news","data":"`+data+`"}`, lines.Text())
	}
}
