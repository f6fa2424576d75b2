package core

import "sync/atomic"

// Stats are the hub's counters, read by the metrics exporter. Hot paths
// add per push or per write, never per connection and message.
type Stats struct {
	Conns         atomic.Int64             // open connections
	LoggedIn      atomic.Int64             // connections logged in
	Subscriptions atomic.Int64             // public and private subscriptions
	Requests      atomic.Int64             // client requests decoded
	Pushes        [3]atomic.Int64          // pushes accepted, by Target
	Deliveries    atomic.Int64             // frames queued for a connection by a push
	BytesWritten  atomic.Int64             // bytes the sockets accepted
	Writes        atomic.Int64             // write and writev calls on sockets
	Flushes       atomic.Int64             // connections written out by a batched writer (timer or flush-bytes)
	SlowConsumers atomic.Int64             // connections closed with 1008 slow consumer
	ClosesWritten atomic.Int64             // close frames the sockets accepted (the lingering close begins)
	AuthFailures  atomic.Int64             // logins refused
	Resyncs       atomic.Int64             // resync notices sent to every connection (broker link returned)
	Closes        [closeSlots]atomic.Int64 // closes the server initiated, by code (see CloseCodes)
	Recoveries    [2]atomic.Int64          // subscribes with since, by outcome: [0] recovered false, [1] true
	Replayed      atomic.Int64             // frames queued by recoveries
	Batch         Histogram                // frames completed per write (BatchBounds)
	Latency       Histogram                // ns from queueing on an idle connection to the write that drains it (LatencyBounds)

	// History, when on: what it holds now.
	HistoryChannels atomic.Int64 // channels with a sequence
	HistoryPushes   atomic.Int64 // frames kept
	HistoryBytes    atomic.Int64 // bytes of the frames kept (shared with the outboxes that still queue them)
}

// CloseCodes are the close codes Stats.Closes counts, in slot order.
var CloseCodes = [closeSlots]int{CloseNormal, CloseGoingAway, CloseProtocolError, CloseUnsupported, CloseInvalidData, ClosePolicy, CloseTooBig, CloseInternal, 0}

const closeSlots = 9

func (s *Stats) countClose(code int) {
	for i, c := range CloseCodes[:closeSlots-1] {
		if c == code {
			s.Closes[i].Add(1)
			return
		}
	}
	s.Closes[closeSlots-1].Add(1) // other
}

// CountClose records a close the transport sent on its own (a protocol
// error it detected) with that code.
func (s *Stats) CountClose(code int) { s.countClose(code) }
