package harness

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/gpush/gpush/core/wsframe/wsclient"
)

// churn runs short-lived clients, each a connect, subscribe, unsubscribe,
// close cycle, at a steady rate until stopped.
type churn struct {
	halt chan struct{} // closed to stop; nil when no churn runs
	done chan struct{} // closed when the last cycle has ended
	ops  atomic.Uint64 // cycles completed
	errs atomic.Uint64 // cycles failed
}

// start runs cycles at c.Rate per second until stop.
func (ch *churn) start(c Cmd) {
	if ch.halt != nil {
		return
	}
	ch.halt, ch.done = make(chan struct{}), make(chan struct{})
	go ch.run(c.Addr, time.Duration(float64(time.Second)/c.Rate))
}

// run starts a cycle every gap, at most 32 at once, until halt.
func (ch *churn) run(addr string, gap time.Duration) {
	defer close(ch.done)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	defer wg.Wait()
	next := time.Now()
	for i := 0; ; i++ {
		select {
		case <-ch.halt:
			return
		case sem <- struct{}{}:
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(gap)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ch.count(churnCycle(addr, fmt.Sprintf("churn%d", i%100)))
		}()
	}
}

func (ch *churn) count(err error) {
	if err != nil {
		ch.errs.Add(1)
		return
	}
	ch.ops.Add(1)
}

// stop ends the churn and waits for its cycles.
func (ch *churn) stop() {
	if ch.halt == nil {
		return
	}
	close(ch.halt)
	<-ch.done
	ch.halt = nil
}

func (ch *churn) reset() {
	ch.ops.Store(0)
	ch.errs.Store(0)
}

func (ch *churn) counts() (ops, errs uint64) { return ch.ops.Load(), ch.errs.Load() }

// churnCycle is one short-lived client: it subscribes to topic, reads the
// reply, unsubscribes, reads the reply and sends a close frame.
func churnCycle(addr, topic string) error {
	c, err := wsclient.Dial(addr, dialConfig)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, code := range []int{1, 2} {
		if _, err := c.Write(appendRequest(nil, code, topic, "")); err != nil {
			return err
		}
		if _, _, err := c.Next(); err != nil {
			return err
		}
	}
	_, err = c.Write(wsclient.CloseFrame(ws.StatusNormalClosure, ""))
	return err
}
