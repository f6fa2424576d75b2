package core

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lingerLink is a transport that lingers once the close frame is written:
// it keeps the connection until aborted, and says whether the peer has
// acknowledged what it sent.
type lingerLink struct {
	c       *Conn
	unacked atomic.Bool
	aborts  atomic.Int64
}

func (l *lingerLink) Kick() {
	drain(&l.c.Out, func([]byte) {}) // the close frame out: linger, no Hub.Closed
}

func (l *lingerLink) Abort()        { l.aborts.Add(1) }
func (l *lingerLink) Unacked() bool { return l.unacked.Load() }

// TestSweepEndsLinger: the sweep aborts a connection lingering after its
// close frame once Limits.CloseLinger has passed, unless the peer has not
// acknowledged what the socket sent: then only after the write timeout.
func TestSweepEndsLinger(t *testing.T) {
	for _, unacked := range []bool{false, true} {
		h := newHarness(t, Config{})
		lim := h.hub.Limits()
		l := &lingerLink{}
		l.unacked.Store(unacked)
		l.c = h.hub.Open(l)
		t.Cleanup(func() { h.hub.Closed(l.c) })
		require.True(t, l.c.CloseWith(CloseNormal, "bye"))
		sent := l.c.Out.sentSince()
		require.NotZero(t, sent, "the close frame is written")
		assert.Equal(t, int64(1), h.hub.Stats().ClosesWritten.Load())

		h.hub.sweep(sent + int64(lim.CloseLinger)/2)
		assert.Zero(t, l.aborts.Load(), "within the linger (unacked %v)", unacked)
		h.hub.sweep(sent + int64(lim.CloseLinger) + 1)
		want := int64(1)
		if unacked {
			want = 0
		}
		assert.Equal(t, want, l.aborts.Load(), "past the linger (unacked %v)", unacked)
		h.hub.sweep(sent + int64(lim.WriteTimeout) + 1)
		assert.Positive(t, l.aborts.Load(), "past the write timeout (unacked %v)", unacked)
	}
}
