//go:build race

package conformance

// Under the race detector (at most 8,128 goroutines) the scale tests run
// small.
const splitScale = 150
