package rfc6455

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/gpush/gpush/core/wsframe"
	st "github.com/gpush/gpush/internal/servertest"
)

// readTimeout bounds the wait for each server frame and for the socket to
// close after the close frame; waiting it out means the server stayed
// silent or kept the socket open.
const readTimeout = 3 * time.Second

// play opens a connection to s, sends c's frames the way m says while
// reading, and returns what the server did: each frame it sent, then how
// the socket ended. After c.closeAt events, unless a close frame came, it
// sends the closing close frame in one write. It reads until the socket
// ends, a read times out, or a few more events than c expects have come.
func play(t *testing.T, s *st.Server, c rfcCase, m mode) []event {
	raw, err := s.TryDialRaw(t)
	if err != nil {
		return []event{event("no connection: " + err.Error())}
	}
	stop, sent := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sent)
		m.send(raw.NC, c.frames, stop)
	}()
	defer func() {
		close(stop)
		raw.NC.SetWriteDeadline(time.Now()) // unblock a write the server does not read
		<-sent
	}()
	var got []event
	closed := false // a close frame came, or the closing one went
	for len(got) < len(c.want)+3 {
		if len(got) == c.closeAt && !closed {
			<-sent
			if _, err := raw.NC.Write(closing); err != nil {
				return append(got, event("closing close frame not sent: "+err.Error()))
			}
			closed = true
		}
		f, err := raw.Next(readTimeout)
		if err != nil {
			return append(got, ended(err))
		}
		got = addEvent(got, describe(f), f.Op)
		closed = closed || f.Op == ws.OpClose
	}
	return got
}

// addEvent appends e to got, but a pong right after a pong replaces it:
// RFC 6455 5.5.3 lets a server answer several pings with one pong for the
// latest, and how many pings one read delivers depends on the replay mode.
func addEvent(got []event, e event, op ws.OpCode) []event {
	if n := len(got); op == ws.OpPong && n > 0 && strings.HasPrefix(string(got[n-1]), "pong ") {
		got[n-1] = e
		return got
	}
	return append(got, e)
}

// eventOp is the opcode an expected event names (only pongs matter).
func eventOp(e event) ws.OpCode {
	if strings.HasPrefix(string(e), "pong ") {
		return ws.OpPong
	}
	return ws.OpText
}

// ended describes how reading stopped.
func ended(err error) event {
	var ne net.Error
	var ce *wsframe.CloseError
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return event(fmt.Sprintf("nothing within %v (socket still open)", readTimeout))
	case errors.As(err, &ce): // Raw's client-side parser refused the frame
		return event("server frame breaks RFC 6455: " + ce.Reason)
	}
	return evEnd // EOF or reset: the server closed the socket
}

// describe names a server frame in the words of the event constructors.
func describe(f st.Frame) event {
	switch f.Op {
	case ws.OpText:
		return describeText(f.Payload)
	case ws.OpPong:
		return pongEv(string(f.Payload))
	case ws.OpClose:
		if len(f.Payload) == 0 {
			return closeEv(0)
		}
		code, _, err := wsframe.ParseClose(f.Payload)
		if err != nil {
			return event(fmt.Sprintf("close with a bad payload %q: %v", f.Payload, err))
		}
		return closeEv(int(code))
	}
	return event(fmt.Sprintf("%v frame of %d bytes", f.Op, len(f.Payload)))
}

// describeText names a reply by its fields, any other text by its content.
func describeText(p []byte) event {
	var r struct {
		Code   *int            `json:"code"`
		ID     json.RawMessage `json:"id"`
		Topic  string          `json:"topic"`
		Status *int            `json:"status"`
	}
	if json.Unmarshal(p, &r) != nil || r.Code == nil || r.Status == nil {
		return textEv(string(p))
	}
	id := -1
	if len(r.ID) > 0 {
		n, err := strconv.Atoi(string(r.ID))
		if err != nil {
			return textEv(string(p))
		}
		id = n
	}
	return replyWith(*r.Code, id, r.Topic, *r.Status)
}
