//go:build race

package wsframe

// raceEnabled: the race detector instruments every byte copied, which makes
// cutting a 64 KiB vector at each of its bytes take half a minute.
const raceEnabled = true
