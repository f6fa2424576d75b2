package core

import "testing"

// BenchmarkOutboxCloseThenBusy is the churn of a reconnect storm beside
// busy connections: each op, one connection closes (its close frame
// written, then its socket gone), and two connections each queue 20 frames
// (both pending at once) and write them. Its allocations are what closing
// costs, and what busy connections pay when closed ones left the pool
// queues without a list.
func BenchmarkOutboxCloseThenBusy(b *testing.B) {
	cfg := &outConfig{coalesce: true}
	goingAway := CloseFrame(CloseGoingAway, "going away")
	frame := frameN(64, 'a')
	bufs := make([][]byte, 0, 32)
	var busy [2]Outbox
	b.ReportAllocs()
	for b.Loop() {
		var o Outbox
		o.closeWith(goingAway, cfg)
		o.Advance(len(goingAway))
		o.markClosed()
		for i := range busy {
			for range 20 {
				if _, err := busy[i].push(frame, cfg); err != nil {
					b.Fatal(err)
				}
			}
		}
		for i := range busy {
			bufs = busy[i].Peek(bufs[:0], cap(bufs))
			if _, closeNow := busy[i].Advance(busy[i].Pending()); closeNow {
				b.Fatal("a busy connection closed")
			}
		}
	}
}
