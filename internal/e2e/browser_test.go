package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/internal/server"
)

// page is the browser side: the platform's WebSocket, nothing else. It
// records every message in window.got, window.ready once the three
// requests are answered, and how the socket ended in window.closeCode
// (window.closed is the browser's own).
const page = `<!doctype html><meta charset="utf-8"><title>gpush e2e</title>
<script>
const q = new URLSearchParams(location.search);
window.got = []; window.ready = false; window.closeCode = null; window.failed = false;
const ws = new WebSocket(q.get('ws'));
ws.onopen = () => {
  ws.send(JSON.stringify({code: 1, topic: 'news', id: 1}));
  ws.send(JSON.stringify({code: 3, data: q.get('token'), id: 2}));
  ws.send(JSON.stringify({code: 5, topic: 'inbox', id: 3}));
};
ws.onmessage = (e) => {
  window.got.push(e.data);
  if (window.got.length === 3) window.ready = true;
};
ws.onerror = () => { window.failed = true; };
ws.onclose = (e) => { window.closeCode = e.code; };
</script>`

// browser starts headless Chromium for the test.
func browser(t *testing.T) context.Context {
	path := need(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first Run starts the browser, which lives as long as ctx: no
	// timeout on it. Every later step gets its own (see run).
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("true"))
	require.NoError(t, err, "start chromium")
	return ctx
}

// run runs one action with a timeout.
func run[T any](ctx context.Context, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// servePage serves page and returns its origin.
func servePage(t *testing.T) string {
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	}))
	t.Cleanup(ps.Close)
	return ps.URL
}

func open(origin, wsURL, tok string) chromedp.Action[chromedp.Void] {
	return chromedp.Navigate(origin + "/?ws=" + url.QueryEscape(wsURL) + "&token=" + url.QueryEscape(tok))
}

// TestBrowser: a page's JavaScript WebSocket in headless Chromium
// connects, subscribes, logs in with a JWT, subscribes privately, and
// receives public, private and broadcast pushes made through the HTTP API,
// exactly and in order; the Origin allow-list admits the page's origin.
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	origin := servePage(t)
	for _, v := range variants {
		t.Run("variant="+v, func(t *testing.T) {
			s := start(t, v, func(c *server.Config) { c.AllowedOrigins = []string{origin} })
			_, err := run(ctx, chromedp.Steps(
				open(origin, s.WSURL, token(t, "alice")),
				chromedp.Poll[chromedp.Void](`window.ready`, chromedp.WithPollingTimeout(20*time.Second)),
			))
			require.NoError(t, err, "the page's requests are answered")
			want := append(append([]string{}, wantReplies...), send(t, s)...)
			_, err = run(ctx, chromedp.Poll[chromedp.Void](`window.got.length >= 6`, chromedp.WithPollingTimeout(20*time.Second)))
			require.NoError(t, err, "the pushes arrive")
			time.Sleep(100 * time.Millisecond) // room for a wrong extra message to show
			gotJSON, err := run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.got)`))
			require.NoError(t, err)
			var got []string
			require.NoError(t, json.Unmarshal([]byte(gotJSON), &got))
			assert.Equal(t, want, got, "replies, then public, private and broadcast pushes; nothing of bob's")
		})
	}
}

// TestBrowserOriginRefused: a page from an origin the allow-list does not
// name never gets a connection (the upgrade is answered 403).
func TestBrowserOriginRefused(t *testing.T) {
	ctx := browser(t)
	origin := servePage(t)
	s := start(t, "epoll-sharded-batched", func(c *server.Config) { c.AllowedOrigins = []string{"https://app.example.com"} })
	_, err := run(ctx, open(origin, s.WSURL, token(t, "alice")))
	require.NoError(t, err)
	code, err := run(ctx, chromedp.Poll[int](`window.closeCode`, chromedp.WithPollingTimeout(20*time.Second)))
	require.NoError(t, err, "the socket ends")
	failed, err := run(ctx, chromedp.Evaluate[bool](`window.failed`))
	require.NoError(t, err)
	ready, err := run(ctx, chromedp.Evaluate[bool](`window.ready`))
	require.NoError(t, err)
	assert.Equal(t, 1006, code, "abnormal closure: the handshake was refused")
	assert.True(t, failed, "the page saw an error")
	assert.False(t, ready, "no request was answered")
	assert.Zero(t, s.Hub().Stats().Conns.Load(), "the server holds no connection")
}
