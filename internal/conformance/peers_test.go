package conformance

import (
	"testing"

	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// Peer quirks. The peer baselines (variants.Axes.Peer) run another
// project's WebSocket server, which answers some frames itself. Where a
// peer departs from docs/protocol.md the suite does not skip the check: it
// expects that peer's own behaviour, so that a library upgrade which
// changes it fails here, and logs the quirk each time it applies, so it
// stays reported in every run.

// quirk is one way a peer's transport departs from the protocol document.
type quirk struct {
	transport string // the peer's transport axis
	note      string // what it does instead
}

// gwsCloseEcho: gws answers a client's close frame itself (core.Conn's
// EchoClose never sees it): 1000 for every code from 1000 to 1015, the
// code itself for 3000-4999.
var gwsCloseEcho = quirk{"gws", "answers a close frame itself, with 1000 for every code below 3000 instead of the code sent"}

// gwsPingFlood: a client flooding control pings is sometimes closed by
// gws without the close 1008 frame the core queued (intermittent; text
// floods are closed with it).
var gwsPingFlood = quirk{"gws", "sometimes ends a control-ping flooder's socket without the close 1008 frame"}

// of reports whether q applies to the variant s runs, and logs it if so.
func (q quirk) of(t *testing.T, s *st.Server) bool {
	t.Helper()
	if a, _ := variants.AxesOf(s.Config.Variant); a.Transport != q.transport {
		return false
	}
	t.Logf("peer quirk of %s: %s", q.transport, q.note)
	return true
}

// closeEcho is the code s answers a client's close with code sent: the
// same code (RFC 6455 5.5.1), but for gwsCloseEcho.
func closeEcho(t *testing.T, s *st.Server, sent int) int {
	if sent < 3000 && gwsCloseEcho.of(t, s) {
		return 1000
	}
	return sent
}
