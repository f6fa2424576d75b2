package cluster

import "sync/atomic"

// Stats are the broker's counters, read by the metrics exporter.
type Stats struct {
	Up          atomic.Bool  // the link is in force: pushes and subscribes are accepted
	Losses      atomic.Int64 // links lost (closed, silent, dropping pushes, unconfirmed)
	Reconnects  atomic.Int64 // links restored after a loss
	Dials       atomic.Int64 // connection attempts that failed
	Subjects    atomic.Int64 // subjects subscribed at the broker now, push-to-all included
	Subscribes  atomic.Int64 // subscriptions sent to the broker (first local interest, restores)
	Published   atomic.Int64 // pushes the broker confirmed
	Refused     atomic.Int64 // pushes refused because the link was down
	Unconfirmed atomic.Int64 // pushes answered 503 because the broker did not confirm them
	SubRefused  atomic.Int64 // subscribes refused because the link was down or did not confirm
	Received    atomic.Int64 // pushes received from the broker and delivered
	Discarded   atomic.Int64 // pushes received on a link that had dropped some (not delivered)
	SlowDrops   atomic.Int64 // times the receive queue was full and NATS dropped pushes
	UnsubFailed atomic.Int64 // unsubscribes that failed and wait for a retry
}
