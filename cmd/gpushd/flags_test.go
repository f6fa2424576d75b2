package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/variants"
)

func TestDefaults(t *testing.T) {
	cfg, _, err := parse(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8989", cfg.WSAddr)
	assert.Equal(t, "127.0.0.1:9090", cfg.GRPCAddr)
	assert.Equal(t, "127.0.0.1:8080", cfg.HTTPAddr)
	assert.Equal(t, "epoll-sharded-batched", cfg.Variant)
	assert.Equal(t, 4096, cfg.Limits.MaxFrame)
	assert.Equal(t, 256, cfg.Limits.MaxSubs)
	assert.Equal(t, 1000, cfg.Limits.MaxBatch)
	assert.Equal(t, 1<<20, cfg.Limits.MaxQueued)
	assert.Equal(t, 60*time.Second, cfg.Limits.IdleTimeout)
	assert.False(t, cfg.Demo, "the demo page is off by default")
	assert.Zero(t, cfg.HistorySize, "history is off by default")
	assert.Equal(t, 5*time.Minute, cfg.HistoryTTL)
}

func TestHistoryFlags(t *testing.T) {
	t.Setenv("GPUSH_HISTORY_SIZE", "50")
	cfg, _, err := parse([]string{"-history-ttl", "90s"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 50, cfg.HistorySize, "GPUSH_HISTORY_SIZE")
	assert.Equal(t, 90*time.Second, cfg.HistoryTTL)
	var stderr bytes.Buffer
	assert.Equal(t, 1, run([]string{"-history-size", "-1", "-ws-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0"}, &bytes.Buffer{}, &stderr))
	assert.Contains(t, stderr.String(), "history-size", "a negative size names the setting")
}

func TestEnvAndFlagPrecedence(t *testing.T) {
	t.Setenv("GPUSH_MAX_SUBS", "7")
	t.Setenv("GPUSH_WS_ADDR", "127.0.0.1:1")
	cfg, _, err := parse([]string{"-ws-addr", "127.0.0.1:2"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 7, cfg.Limits.MaxSubs, "the environment sets a flag not given")
	assert.Equal(t, "127.0.0.1:2", cfg.WSAddr, "a flag on the command line wins")
}

func TestConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gpushd.yaml")
	require.NoError(t, os.WriteFile(path, []byte("max-subs: 9\nidle-timeout: 5s\nmax-frame: 100\n"), 0o600))
	t.Setenv("GPUSH_MAX_FRAME", "200")
	cfg, _, err := parse([]string{"-config", path, "-idle-timeout", "7s"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 9, cfg.Limits.MaxSubs, "the file sets what nothing else does")
	assert.Equal(t, 7*time.Second, cfg.Limits.IdleTimeout, "a flag wins over the file")
	assert.Equal(t, 200, cfg.Limits.MaxFrame, "the environment wins over the file")

	require.NoError(t, os.WriteFile(path, []byte("max-subz: 9\n"), 0o600))
	_, _, err = parse([]string{"-config", path}, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "max-subz", "an unknown key is named")
}

func TestBadValuesNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  [2]string
		name string
	}{
		{args: []string{"-max-subs", "many"}, name: "max-subs"},
		{args: []string{"-idle-timeout", "soon"}, name: "idle-timeout"},
		{env: [2]string{"GPUSH_MAX_QUEUED", "lots"}, name: "GPUSH_MAX_QUEUED"},
		{args: []string{"-log-level", "loud"}, name: "log-level"},
	} {
		if tc.env[0] != "" {
			t.Setenv(tc.env[0], tc.env[1])
		}
		var stderr bytes.Buffer
		code := run(tc.args, &bytes.Buffer{}, &stderr)
		assert.NotEqual(t, 0, code, "%v %v", tc.args, tc.env)
		assert.Contains(t, stderr.String(), tc.name, "the message names the setting")
		if tc.env[0] != "" {
			os.Unsetenv(tc.env[0])
		}
	}
	var stderr bytes.Buffer
	assert.Equal(t, 1, run([]string{"-variant", "nope", "-ws-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0"}, &bytes.Buffer{}, &stderr))
	assert.Contains(t, stderr.String(), "variant")
	stderr.Reset()
	assert.Equal(t, 1, run([]string{"-push-format", "xml", "-ws-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0"}, &bytes.Buffer{}, &stderr))
	assert.Contains(t, stderr.String(), "push-format")
}

func TestVariantsListsEveryVariant(t *testing.T) {
	var out bytes.Buffer
	require.Equal(t, 0, run([]string{"-variants"}, &out, &bytes.Buffer{}))
	assert.Equal(t, variants.Names(), strings.Fields(out.String()))
}

func TestHelpDocumentsEverySetting(t *testing.T) {
	var stderr bytes.Buffer
	assert.Equal(t, 0, run([]string{"-h"}, &bytes.Buffer{}, &stderr))
	for _, name := range []string{"ws-addr", "grpc-addr", "http-addr", "variant", "jwt-secret", "auth-url", "api-key",
		"push-format", "shards", "max-frame", "max-subs", "max-queued", "idle-timeout", "max-conns", "config", "flush-interval", "drain-timeout", "demo", "history-size", "history-ttl"} {
		assert.Contains(t, stderr.String(), "-"+name, "gpushd -h documents -%s", name)
	}
	assert.Contains(t, stderr.String(), "(default 4096)", "defaults are shown")
}
