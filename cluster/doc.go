// Package cluster joins gpushd nodes through NATS (PROTOCOL.md, Cluster):
// it is the core.Broker a node uses when it is given -broker.
//
// A node holds one NATS connection, its link. A push accepted by any node is
// published on the subject of its target (subject.go) and confirmed with a
// round trip (confirm.go) before the push API answers; every node that has
// local interest in that subject receives it through the link, its own
// pushes included, and hands it to its hub, which encodes it once for all
// its recipients. Interest (interest.go) is reference-counted per subject:
// subscribed at the first local subscriber, answered only once the broker
// confirmed it, unsubscribed a short delay after the last one left.
//
// Every subscription of a link delivers into one queue, read by one
// goroutine (deliver.go), so pushes published one after another on one node
// reach every node in that order, across subjects too. A lost link (closed,
// silent for PingInterval x 3, or dropping pushes because the queue was full)
// is closed and dialled again at most RetryWait apart (link.go); the new link
// subscribes everything the node is interested in, confirms it, and only then
// does the delivery goroutine finish the old queue, tell the hub to resync
// every connection (code 10), and start on the new one. Meanwhile pushes and
// subscribes fail with core.ErrUnavailable and Up reports false.
package cluster
