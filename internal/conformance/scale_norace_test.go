//go:build !race

package conformance

const splitScale = 1000
