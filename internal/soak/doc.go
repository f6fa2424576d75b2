// Package soak proves the production server under faults and a soak: clients
// killed mid-frame, clients that vanish without a close, push floods beyond
// what clients can take, and a bounded run of thousands of connections with
// churn, floods, slow consumers and split frames, after which connections,
// goroutines and memory return to their baseline. It holds tests only; `make
// soak` runs the long soak (GPUSH_SOAK sets its duration, GPUSH_SOAK_CONNS its
// scale).
package soak
