package cluster

import (
	"github.com/nats-io/nats.go"

	"github.com/gpush/gpush/core"
)

// handover passes a restored link to the delivery goroutine.
type handover struct {
	l      *link
	resync bool          // tell every connection pushes may have been missed
	done   chan struct{} // closed once the delivery goroutine reads l
}

// deliver is the one goroutine that hands pushes from the broker to the
// sink, in the order the link received them. On a handover it finishes
// the old link's queue, resyncs, and only then reads the new link: so the
// resync notice comes after every push of the lost link and before any of
// the restored one.
func (b *Broker) deliver() {
	defer b.wg.Done()
	var cur *link
	for {
		var ch chan *nats.Msg
		if cur != nil {
			ch = cur.ch
		}
		select {
		case m := <-ch:
			b.handle(cur, m)
		case h := <-b.handover:
			b.drain(cur)
			cur = h.l
			if h.resync {
				n := b.sink.Resync()
				b.log.Info("broker link restored: resync notice sent", "connections", n)
			}
			close(h.done)
		case <-b.stop:
			return
		}
	}
}

// drain delivers what l's queue still holds.
func (b *Broker) drain(l *link) {
	if l == nil {
		return
	}
	for {
		select {
		case m := <-l.ch:
			b.handle(l, m)
		default:
			return
		}
	}
}

func (b *Broker) handle(l *link, m *nats.Msg) {
	if l.lossy.Load() { // pushes after a gap: the resync notice covers them
		b.stats.Discarded.Add(1)
		return
	}
	s, ok := b.subj.parse(m.Subject)
	if !ok {
		b.log.Warn("broker: message on an unknown subject", "subject", m.Subject)
		return
	}
	b.stats.Received.Add(1)
	b.sink.Deliver(core.Push{UID: s.UID, Topic: s.Topic, Data: m.Data})
}
