//go:build linux && race

package soak

// raceEnabled: the race detector allows at most 8,128 live goroutines, and
// every client connection here has one; the soak runs small.
const raceEnabled = true
