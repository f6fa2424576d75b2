// Package policy holds the write policies, one variant axis: Immediate
// (every frame written at once, one write each) and Batched (frames
// coalesced per connection and flushed on a timer or when enough is
// pending). Each implements core.Policy.
package policy

import "github.com/gpush/gpush/core"

// Immediate writes each frame as soon as it is queued, one write per frame:
// the baseline.
type Immediate struct{}

// Queued implements core.Policy.
func (Immediate) Queued(*core.Conn, int) bool { return true }

// Coalesce implements core.Policy.
func (Immediate) Coalesce() bool { return false }
