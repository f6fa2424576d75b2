package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// poll waits until expr is true in the page.
func poll(t *testing.T, ctx context.Context, expr, what string) {
	t.Helper()
	_, err := run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(25*time.Second)))
	require.NoError(t, err, "%s (%s)", what, expr)
}

// pageTexts returns the texts of the pushes the page received, in order.
func pageTexts(t *testing.T, ctx context.Context) []string {
	got, err := run(ctx, chromedp.Evaluate[[]string](`window.demo.pushes.map(p => p.text)`))
	require.NoError(t, err)
	return got
}

// TestBrowserDemo: gpushd -demo (history on) serves the page; in headless
// Chromium it connects by itself and, through its buttons, subscribes, logs
// in with a JWT and subscribes privately, then lists the public and private
// pushes made through the HTTP API. The server then closes every connection
// (SIGTERM: 1001 going away) and comes back on the same ports: the page
// reconnects by itself, logs in again, resubscribes both channels, says
// recovered false (a new process cannot replay) and lists the pushes made
// after, with offsets of the new epochs.
func TestBrowserDemo(t *testing.T) {
	ctx := browser(t)
	d := newDaemon(t, append(historyArgs(100), "-demo")...)
	_, err := run(ctx, chromedp.Navigate("http://"+d.httpAddr+"/demo/"))
	require.NoError(t, err)
	poll(t, ctx, `window.demo && window.demo.state === 'open'`, "the page connects by itself")
	_, err = run(ctx, chromedp.Steps(
		chromedp.SetValue(chromedp.ID("topic"), "news"),
		chromedp.Click(chromedp.ID("subscribe")),
		chromedp.SetValue(chromedp.ID("token"), token(t, "alice")),
		chromedp.Click(chromedp.ID("login")),
	))
	require.NoError(t, err)
	poll(t, ctx, `window.demo.events.some(e => e.kind === 'login')`, "the login is accepted")
	_, err = run(ctx, chromedp.Steps(
		chromedp.SetValue(chromedp.ID("topic"), "inbox"),
		chromedp.Click(chromedp.ID("subscribePrivate")),
	))
	require.NoError(t, err)
	poll(t, ctx, `window.demo.events.filter(e => e.kind === 'subscribed').length === 2`, "both subscribes are answered")
	d.push("", "news", "before 1")
	d.push("alice", "inbox", "private 1")
	d.push("bob", "inbox", "not for alice")
	d.push("", "news", "before 2")
	poll(t, ctx, `window.demo.pushes.length === 3`, "the pushes arrive")

	d.stop()
	poll(t, ctx, `window.demo.state === 'waiting'`, "the page sees the server's close and waits to reconnect")
	d.start()
	poll(t, ctx, `window.demo.events.filter(e => e.kind === 'subscribed').length === 4`, "the page logs in and resubscribes by itself")
	d.push("", "news", "after 1")
	d.push("alice", "inbox", "private 2")
	poll(t, ctx, `window.demo.pushes.length === 5`, "pushes after the restart arrive")
	time.Sleep(100 * time.Millisecond) // room for a wrong extra push to show
	assert.Equal(t, []string{"before 1", "private 1", "before 2", "after 1", "private 2"}, pageTexts(t, ctx))
	offsets, err := run(ctx, chromedp.Evaluate[[]int](`window.demo.pushes.map(p => p.offset)`))
	require.NoError(t, err)
	assert.Equal(t, []int{1, 1, 2, 1, 1}, offsets, "offsets per channel, restarting in the new process's epochs")

	closes, err := run(ctx, chromedp.Evaluate[[]int](`window.demo.events.filter(e => e.kind === 'state' && e.state === 'waiting').map(e => e.code)`))
	require.NoError(t, err)
	assert.Equal(t, 1001, closes[0], "the server said going away")
	recovered, err := run(ctx, chromedp.Evaluate[[]bool](`window.demo.events.filter(e => e.kind === 'subscribed').slice(2).map(e => e.recovered)`))
	require.NoError(t, err)
	assert.Equal(t, []bool{false, false}, recovered, "a new process cannot replay: the page is told, for both channels")
	logins, err := run(ctx, chromedp.Evaluate[int](`window.demo.events.filter(e => e.kind === 'login').length`))
	require.NoError(t, err)
	assert.Equal(t, 2, logins, "logged in again after the restart")
	rows, err := run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#pushes tr').length`))
	require.NoError(t, err)
	assert.Equal(t, 5, rows, "the page lists every push")
	state, err := run(ctx, chromedp.Text(chromedp.ID("state")))
	require.NoError(t, err)
	assert.Equal(t, "open", state, "the page shows the connection state")
}

// TestBrowserDemoServerClose: a live gpushd with history closes the page's
// connection again and again (idle timeout 1 s: the page pings every 20 s)
// while pushes flow; the page reconnects each time, recovers with since,
// and lists every push exactly once, in order.
func TestBrowserDemoServerClose(t *testing.T) {
	ctx := browser(t)
	d := newDaemon(t, append(historyArgs(1000), "-demo", "-idle-timeout", "1s")...)
	_, err := run(ctx, chromedp.Navigate("http://"+d.httpAddr+"/demo/"))
	require.NoError(t, err)
	poll(t, ctx, `window.demo && window.demo.state === 'open'`, "the page connects by itself")
	_, err = run(ctx, chromedp.Click(chromedp.ID("subscribe")))
	require.NoError(t, err)
	poll(t, ctx, `window.demo.events.filter(e => e.kind === 'subscribed').length === 1`, "the subscribe is answered")
	var want []string
	for i := 0; i < 40; i++ {
		text := fmt.Sprintf("push %d", i)
		d.push("", "news", text)
		want = append(want, text)
		time.Sleep(100 * time.Millisecond) // pushes keep flowing across the closes
	}
	poll(t, ctx, `window.demo.pushes.length >= 40`, "every push arrives")
	time.Sleep(100 * time.Millisecond) // room for a wrong extra push to show
	assert.Equal(t, want, pageTexts(t, ctx), "every push once, in order")
	closes, err := run(ctx, chromedp.Evaluate[[]int](`window.demo.events.filter(e => e.kind === 'state' && e.state === 'waiting').map(e => e.code)`))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(closes), 2, "the server closed the page's connection repeatedly")
	assert.Equal(t, 1001, closes[0], "idle: going away")
	recovered, err := run(ctx, chromedp.Evaluate[[]bool](`window.demo.events.filter(e => e.kind === 'subscribed').slice(1).map(e => e.recovered)`))
	require.NoError(t, err)
	assert.NotEmpty(t, recovered)
	for i, r := range recovered {
		assert.True(t, r, "resubscribe %d recovered from the live server", i+1)
	}
}
