package core

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core/wsframe"
)

// testRegistry is the simplest core.Registry, one RWMutex over maps; the
// real ones live in variants/registry, which imports this package.
type testRegistry struct {
	walking atomic.Int32 // channel walks (not broadcasts) in progress

	mu   sync.RWMutex
	all  map[*Conn]struct{}
	subs map[Sub]map[*Conn]struct{}
}

func newTestRegistry() *testRegistry {
	return &testRegistry{all: make(map[*Conn]struct{}), subs: make(map[Sub]map[*Conn]struct{})}
}

func (r *testRegistry) Add(c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all[c] = struct{}{}
}

func (r *testRegistry) Remove(c *Conn, subs []Sub) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range subs {
		r.unsubscribeLocked(s, c)
	}
	delete(r.all, c)
}

func (r *testRegistry) Subscribe(s Sub, c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.subs[s] == nil {
		r.subs[s] = make(map[*Conn]struct{})
	}
	r.subs[s][c] = struct{}{}
}

func (r *testRegistry) Unsubscribe(s Sub, c *Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unsubscribeLocked(s, c)
}

func (r *testRegistry) unsubscribeLocked(s Sub, c *Conn) {
	delete(r.subs[s], c)
	if len(r.subs[s]) == 0 {
		delete(r.subs, s)
	}
}

func (r *testRegistry) Each(t Target, s Sub, fn func(*Conn)) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if t != TargetAll {
		r.walking.Add(1)
		defer r.walking.Add(-1)
	}
	set := r.all
	if t != TargetAll {
		set = r.subs[s]
	}
	for c := range set {
		fn(c)
	}
	return len(set)
}

func (r *testRegistry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.all)
}

// subCount returns how many (subscription, connection) pairs are indexed.
func (r *testRegistry) subCount() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, set := range r.subs {
		n += len(set)
	}
	return n
}

// kickPolicy writes every frame at once, like policy.Immediate.
type kickPolicy struct{}

func (kickPolicy) Queued(*Conn, int) bool { return true }
func (kickPolicy) Coalesce() bool         { return false }

// fakeLink is an in-memory transport. Kick drains the outbox into a byte
// log with Peek and Advance, as a socket writer would, unless stuck (a
// socket that accepts nothing). When the close frame is out it reports
// Hub.Closed from a goroutine of its own, as transports do (never inside
// Kick, which may run under registry locks).
type fakeLink struct {
	hub   *Hub
	stuck atomic.Bool

	kicks  atomic.Int64
	inWalk atomic.Int64 // kicks during a channel walk of the registry
	aborts atomic.Int64
	closed atomic.Bool // the close frame went out

	mu   sync.Mutex // one writer at a time; guards c, log, seen
	c    *Conn
	log  []byte
	seen int // frames already returned by take
}

func (l *fakeLink) Kick() {
	l.kicks.Add(1)
	if r, ok := l.hub.reg.(*testRegistry); ok && r.walking.Load() > 0 {
		l.inWalk.Add(1)
	}
	if l.stuck.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if drain(&l.c.Out, func(b []byte) { l.log = append(l.log, b...) }) {
		l.closed.Store(true)
		go l.hub.Closed(l.c)
	}
}

// drain writes out everything pending in o, as a socket that takes every
// byte would, handing each buffer to wrote; it reports whether the close
// frame went out (Advance's closeNow), and stops there.
func drain(o *Outbox, wrote func([]byte)) (closeNow bool) {
	for {
		bufs := o.Peek(nil, 16)
		if len(bufs) == 0 {
			return false
		}
		n := 0
		for _, b := range bufs {
			wrote(b)
			n += len(b)
		}
		if _, closeNow := o.Advance(n); closeNow {
			return true
		}
	}
}

func (l *fakeLink) Abort() {
	l.aborts.Add(1)
	l.mu.Lock()
	c := l.c
	l.mu.Unlock()
	go l.hub.Closed(c)
}

// frames parses everything written so far.
func (l *fakeLink) frames(t testing.TB) []wsFrame {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	return parseFrames(t, l.log)
}

// take returns the frames written since the last take.
func (l *fakeLink) take(t testing.TB) []wsFrame {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	fs := parseFrames(t, l.log)
	out := fs[l.seen:]
	l.seen = len(fs)
	return out
}

// wsFrame is one parsed server frame.
type wsFrame struct {
	op      byte
	payload []byte
}

// closeCode returns the status code and reason of a close frame.
func (f wsFrame) closeCode() (int, string) {
	if len(f.payload) < 2 {
		return 0, ""
	}
	return int(binary.BigEndian.Uint16(f.payload)), string(f.payload[2:])
}

// parseFrames decodes a stream of server frames: each must be final,
// unmasked, without reserved bits, complete, and its length encoded in the
// fewest bytes (the header AppendFrame writes).
func parseFrames(t testing.TB, b []byte) []wsFrame {
	t.Helper()
	var out []wsFrame
	for len(b) > 0 {
		h, p, n := wsframe.Cut(b)
		require.NotZero(t, n, "a whole frame in % x", b[:min(len(b), 16)])
		require.True(t, h.Fin, "FIN set")
		require.Zero(t, h.Rsv, "no reserved bits")
		require.False(t, h.Masked, "server frames are not masked")
		require.Equal(t, wsframe.AppendFrame(nil, h.OpCode, true, p), b[:n], "minimal length encoding")
		out = append(out, wsFrame{op: byte(h.OpCode), payload: p})
		b = b[n:]
	}
	return out
}

// texts returns the payloads of the text frames among fs.
func texts(fs []wsFrame) []string {
	var out []string
	for _, f := range fs {
		if f.op == OpcodeText {
			out = append(out, string(f.payload))
		}
	}
	return out
}

// authFunc adapts a function to Authenticator.
type authFunc func(ctx context.Context, cred string) (Identity, error)

func (f authFunc) Authenticate(ctx context.Context, cred string) (Identity, error) {
	return f(ctx, cred)
}

// usersAuth accepts credential "user:<uid>" as uid, without expiry.
var usersAuth = authFunc(func(_ context.Context, cred string) (Identity, error) {
	if len(cred) > 5 && cred[:5] == "user:" {
		return Identity{UID: cred[5:]}, nil
	}
	return Identity{}, errRefused
})

var errRefused = &refusedError{}

type refusedError struct{}

func (*refusedError) Error() string { return "no such user" }

// harness is a hub on a testRegistry with kickPolicy, closed at the end.
type harness struct {
	t   *testing.T
	hub *Hub
	reg *testRegistry
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	reg := newTestRegistry()
	cfg.Registry = reg
	if cfg.Policy == nil {
		cfg.Policy = kickPolicy{}
	}
	h := &harness{t: t, hub: NewHub(cfg), reg: reg}
	t.Cleanup(h.hub.Close)
	return h
}

// open connects a new fake client.
func (h *harness) open() (*Conn, *fakeLink) {
	l := &fakeLink{hub: h.hub}
	l.mu.Lock() // the sweep may kick it as soon as Open has indexed it
	l.c = h.hub.Open(l)
	l.mu.Unlock()
	return l.c, l
}

// request sends msg and returns the one reply it got, as JSON text.
func (h *harness) request(c *Conn, l *fakeLink, msg string) string {
	h.t.Helper()
	c.Handle(context.Background(), []byte(msg))
	fs := l.take(h.t)
	require.Len(h.t, fs, 1, "one reply to %s", msg)
	require.Equal(h.t, OpcodeText, fs[0].op, "the reply to %s is a text frame", msg)
	return string(fs[0].payload)
}

// eventually polls cond every millisecond until within.
func eventually(cond func() bool, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}
