package core

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// panicAuth is an Authenticator with a bug: every login panics.
var panicAuth = authFunc(func(context.Context, string) (Identity, error) { panic("auth bug") })

func TestHandlePanicClosesWith1011(t *testing.T) {
	h := newHarness(t, Config{Auth: panicAuth, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	c, l := h.open()
	other, ol := h.open()
	require.NotPanics(t, func() { c.Handle(context.Background(), []byte(`{"code":3,"data":"x"}`)) }, "core recovers the handler")
	fs := l.take(t)
	require.Len(t, fs, 1, "only a close frame: the request got no reply")
	code, reason := fs[0].closeCode()
	assert.Equal(t, CloseInternal, code, "close 1011")
	assert.Equal(t, "internal error", reason, "the panic value is not sent to the client")
	require.Equal(t, CloseInternal, CloseCodes[7], "slot 7 is 1011")
	assert.Equal(t, int64(1), h.hub.Stats().Closes[7].Load(), "a close 1011 counted")
	assert.True(t, eventually(func() bool { return h.reg.Len() == 1 }, 5*time.Second), "the connection is gone, the other stays")

	assert.JSONEq(t, `{"code":1,"topic":"news","status":0}`, h.request(other, ol, `{"code":1,"topic":"news"}`),
		"another connection is served as before")
}

func TestApplyPanicClosesWith1011(t *testing.T) {
	h := newHarness(t, Config{Auth: panicAuth, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	c, l := h.open()
	req, ok := c.Parse([]byte(`{"code":3,"data":"x"}`))
	require.True(t, ok, "a login parses")
	require.NotPanics(t, func() { c.Apply(context.Background(), req) }, "core recovers Apply, which an event loop runs on a goroutine of its own")
	fs := l.take(t)
	require.Len(t, fs, 1, "only a close frame")
	code, _ := fs[0].closeCode()
	assert.Equal(t, CloseInternal, code, "close 1011")
}
