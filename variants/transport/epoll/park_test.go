//go:build linux

package epoll

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/core/wsframe/wsclient"
	"github.com/gpush/gpush/variants/policy"
	"github.com/gpush/gpush/variants/registry"
)

// These tests drive a loop by hand on the test goroutine, which plays the
// loop goroutine (no run): each read is one call of loop.read, so what is
// parked between two reads can be looked at. A unix socket pair stands for
// the TCP connection: a write on it is readable as soon as it returns.

// testLoop is a loop of a transport whose goroutines do not run.
func testLoop(t *testing.T) *loop { return testLoopAuth(t, nil) }

// testLoopAuth is testLoop with an Authenticator.
func testLoopAuth(t *testing.T, auth core.Authenticator) *loop {
	hub := core.NewHub(core.Config{Registry: registry.NewSharded(4), Policy: policy.Immediate{}, Auth: auth})
	t.Cleanup(hub.Close)
	tr := &Transport{hub: hub, ctx: context.Background()}
	l, err := newLoop(tr)
	require.NoError(t, err)
	tr.loops = []*loop{l}
	t.Cleanup(func() { l.p.Close() })
	return l
}

// peer is the client's end of a connection of a test loop.
type peer struct {
	l  *loop
	ec *conn
	nc net.Conn
	r  wsframe.Reader
}

// connect attaches a connection to l with early as the bytes read past
// the handshake, and returns it with the client's end.
func connect(t *testing.T, l *loop, early []byte) *peer {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	f := os.NewFile(uintptr(fds[1]), "client")
	nc, err := net.FileConn(f)
	require.NoError(t, err)
	f.Close()
	t.Cleanup(func() { nc.Close() })
	ec := l.attach(int32(fds[0]), early)
	require.Same(t, ec, l.conns[l.slot(ec)], "attached")
	t.Cleanup(func() { l.close(ec) })
	return &peer{l: l, ec: ec, nc: nc, r: wsframe.Reader{R: bufio.NewReader(nc)}}
}

// send writes b as the client and has the loop read it.
func (p *peer) send(t *testing.T, b []byte) {
	_, err := p.nc.Write(b)
	require.NoError(t, err)
	p.l.read(p.ec, false)
}

// expect reads the next frames the server wrote and checks their payloads.
func (p *peer) expect(t *testing.T, want ...string) {
	t.Helper()
	for i, w := range want {
		_, got := p.next(t)
		assert.Equal(t, w, got, "frame %d", i)
	}
}

// next reads the next frame the server wrote.
func (p *peer) next(t *testing.T) (ws.OpCode, string) {
	require.NoError(t, p.nc.SetReadDeadline(time.Now().Add(10*time.Second)), "a safety net, not a timing")
	h, payload, err := p.r.Next()
	require.NoError(t, err)
	return h.OpCode, string(payload)
}

// subscribe is a client's subscribe request to topic, as a frame.
func subscribe(topic string) []byte {
	return wsclient.Text(fmt.Sprintf(`{"code":1,"topic":%q}`, topic))
}

func reply(topic string) string { return fmt.Sprintf(`{"code":1,"topic":%q,"status":0}`, topic) }

// TestParkedEveryCut sends a request cut at every byte, in two reads: the
// state is parked in between and released by the request's end.
func TestParkedEveryCut(t *testing.T) {
	l := testLoop(t)
	p := connect(t, l, nil)
	frame := subscribe("a")
	for cut := 1; cut < len(frame); cut++ {
		p.send(t, frame[:cut])
		assert.False(t, p.ec.pk.Empty(), "cut at %d: the partial frame is parked", cut)
		p.send(t, frame[cut:])
		assert.True(t, p.ec.pk.Empty(), "cut at %d: nothing parked after the frame", cut)
		_, got := p.next(t)
		require.Equal(t, reply("a"), got, "cut at %d", cut)
	}
}

// TestParkedInterleaved feeds two connections of one loop byte by byte in
// turn: each resumes its own state in the loop's one Parser.
func TestParkedInterleaved(t *testing.T) {
	l := testLoop(t)
	a, b := connect(t, l, nil), connect(t, l, nil)
	fa, fb := subscribe("first"), subscribe("second")
	for i := range max(len(fa), len(fb)) {
		if i < len(fa) {
			a.send(t, fa[i:i+1])
		}
		if i < len(fb) {
			b.send(t, fb[i:i+1])
		}
	}
	assert.True(t, a.ec.pk.Empty())
	assert.True(t, b.ec.pk.Empty())
	_, got := a.next(t)
	assert.Equal(t, reply("first"), got)
	_, got = b.next(t)
	assert.Equal(t, reply("second"), got)
}

// TestParkedFragmentedMessage sends a request in two fragments, in reads
// of their own, with a ping between: the open message is parked, the ping
// answered at once.
func TestParkedFragmentedMessage(t *testing.T) {
	l := testLoop(t)
	p := connect(t, l, nil)
	p.send(t, wsframe.AppendMaskedFrame(nil, ws.OpText, false, wsclient.Mask, []byte(`{"code":1,`)))
	assert.False(t, p.ec.pk.Empty(), "the open message is parked")
	assert.Equal(t, len(`{"code":1,`), p.ec.pk.Buffered())
	p.send(t, wsframe.AppendMaskedFrame(nil, ws.OpPing, true, wsclient.Mask, []byte("hi")))
	op, got := p.next(t)
	assert.Equal(t, ws.OpPong, op)
	assert.Equal(t, "hi", got)
	assert.False(t, p.ec.pk.Empty(), "still open after the ping")
	p.send(t, wsframe.AppendMaskedFrame(nil, ws.OpContinuation, true, wsclient.Mask, []byte(`"topic":"f"}`)))
	assert.True(t, p.ec.pk.Empty(), "released when the message completes")
	_, got = p.next(t)
	assert.Equal(t, reply("f"), got)
}

// TestParkedEarlyBytes: half a frame read with the handshake is parsed
// when the connection opens and parked for the next read to finish.
func TestParkedEarlyBytes(t *testing.T) {
	l := testLoop(t)
	frame := subscribe("early")
	p := connect(t, l, frame[:5])
	assert.False(t, p.ec.pk.Empty(), "the early half frame is parked")
	p.send(t, frame[5:])
	assert.True(t, p.ec.pk.Empty())
	_, got := p.next(t)
	assert.Equal(t, reply("early"), got)
}

// TestParkedCloseMidFrame: a connection that ends inside a frame gives
// its parked Parser and buffer back to their pools (wsframe.Held).
func TestParkedCloseMidFrame(t *testing.T) {
	l := testLoop(t)
	start := wsframe.Held()
	p := connect(t, l, nil)
	frame := wsframe.AppendMaskedFrame(nil, ws.OpText, true, wsclient.Mask, make([]byte, 1000))
	p.send(t, frame[:600])
	require.False(t, p.ec.pk.Empty(), "half a frame is parked")
	require.Equal(t, wsframe.Holding{Parked: start.Parked + 1, Buffers: start.Buffers + 1}, wsframe.Held())
	require.NoError(t, p.nc.Close())
	l.read(p.ec, true)
	assert.True(t, p.ec.gone, "the loop closed the connection at EOF")
	assert.Equal(t, start, wsframe.Held(), "and its parked state went back to its pools")
}

// TestCloseTwice: two closers of one connection at once: one closes, the
// parked state goes back once, the hub hears of it once. Many rounds, so
// the race detector sees the two meet.
func TestCloseTwice(t *testing.T) {
	l := testLoop(t)
	start := wsframe.Held()
	conns := l.t.hub.Stats().Conns.Load()
	frame := subscribe("x")
	for range 50 {
		p := connect(t, l, frame[:len(frame)/2])
		require.False(t, p.ec.pk.Empty(), "half a frame is parked")
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				l.close(p.ec)
			}()
		}
		close(gate)
		wg.Wait()
		require.True(t, p.ec.gone)
		require.Nil(t, l.lookup(connKey(p.ec)), "the loop forgot it")
	}
	assert.Equal(t, start, wsframe.Held(), "each parked state went back once")
	assert.Equal(t, conns, l.t.hub.Stats().Conns.Load(), "the hub counts each connection closed once")
}

// TestOpenRefused: a descriptor epoll refuses (a regular file) when its
// handshake becomes a connection is closed, and what its early bytes
// parked goes back.
func TestOpenRefused(t *testing.T) {
	l := testLoop(t)
	done := 0
	l.t.gate = core.Gate{Done: func() { done++ }}
	start := wsframe.Held()
	conns := l.t.hub.Stats().Conns.Load()
	fd, err := unix.Open(filepath.Join(t.TempDir(), "file"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	require.NoError(t, err)
	h := &handshake{fd: int32(fd)}
	l.shakes[h.fd] = h
	frame := subscribe("x")
	l.open(h, frame[:len(frame)/2])
	assert.Equal(t, start, wsframe.Held(), "the early half frame's state went back")
	assert.Equal(t, conns, l.t.hub.Stats().Conns.Load(), "the connection is closed")
	assert.Equal(t, 1, done, "its admission ended")
	assert.Empty(t, l.shakes, "the handshake is forgotten")
	assert.Empty(t, slices.DeleteFunc(slices.Clone(l.conns), func(ec *conn) bool { return ec == nil }), "the loop holds no connection")
}
