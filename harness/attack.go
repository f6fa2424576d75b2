package harness

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/gpush/gpush/core/wsframe/wsclient"
)

// splitAttack holds attackers: connections that each send the first bytes
// of a masked text frame claiming more payload than they will ever send,
// then, when asked, trickle one more byte at a time. A server must serve
// everyone else while these frames stay incomplete.
type splitAttack struct {
	mu    sync.Mutex
	conns []*wsclient.Conn
	stop  chan struct{} // closed to stop the trickle; nil when none runs
	bytes atomic.Uint64 // trickled payload bytes
}

// attackLen is the payload length each attacker's frame claims; attackHead
// is the header and first payload bytes an attacker sends at once.
const (
	attackLen  = 4000
	attackHead = 2 + 2 + 4 + 4 // 16-bit length, mask key, 4 payload bytes
)

// start opens c.N attackers, each sending the head of its frame: with
// c.Every > 0 one more byte each, every c.Every ms; else nothing more.
func (a *splitAttack) start(c Cmd) error {
	head := wsclient.Frame(ws.OpText, bytes.Repeat([]byte{'a'}, attackLen))[:attackHead]
	for i := 0; i < c.N; i++ {
		conn, err := wsclient.Dial(c.Addr, dialConfig)
		if err != nil {
			return fmt.Errorf("attacker %d: %w", i, err)
		}
		if _, err := conn.Write(head); err != nil {
			conn.Close()
			return fmt.Errorf("attacker %d: %w", i, err)
		}
		a.mu.Lock()
		a.conns = append(a.conns, conn)
		a.mu.Unlock()
		go io.Copy(io.Discard, conn) // keep the receive window open
	}
	if c.Every > 0 && a.stop == nil {
		a.stop = make(chan struct{})
		go a.trickle(time.Duration(c.Every)*time.Millisecond, a.stop)
	}
	return nil
}

// trickle sends one payload byte per attacker per tick; 4,000 bytes take
// far longer than any run, so no frame ever completes.
func (a *splitAttack) trickle(every time.Duration, stop chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	one := []byte{'e'}
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		a.mu.Lock()
		conns := a.conns
		a.mu.Unlock()
		for _, conn := range conns {
			if _, err := conn.Write(one); err == nil {
				a.bytes.Add(1)
			}
		}
	}
}

func (a *splitAttack) reset() { a.bytes.Store(0) }

// close stops the trickle and closes every attacker.
func (a *splitAttack) close() {
	if a.stop != nil {
		close(a.stop)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, conn := range a.conns {
		conn.Close()
	}
}
