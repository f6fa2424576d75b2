package harness

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpush/gpush/proto/pushpb"
)

// Plan is the open-loop push load of one window: pushes are scheduled at a
// fixed rate and stamped with their scheduled time, so a server that falls
// behind shows it in latency instead of slowing the load (no coordinated
// omission). Each lane pushes one after another, so each topic or user
// sees its pushes in a defined order the clients can check.
type Plan struct {
	Topics  []string // public: one lane per topic, round robin over the rate
	Users   int      // private: users 1..Users, random, on Lanes lanes by user
	Private string   // the private topic
	Lanes   int
	Rate    float64 // pushes per second, all lanes together
	Size    int     // payload bytes
	Window  time.Duration
}

// PushResult counts a window's pushes.
type PushResult struct {
	Offered  uint64   // scheduled in the window
	Accepted uint64   // answered OK
	Errors   uint64   // answered with an error
	PerTopic []uint64 // accepted, by topic index (public plans)
}

// Push runs plan against c and returns when the window is over and every
// call made has returned.
func Push(c pushpb.PushClient, plan Plan) PushResult {
	lanes := len(plan.Topics)
	if plan.Users > 0 {
		lanes = max(1, min(plan.Lanes, plan.Users))
	}
	res := PushResult{PerTopic: make([]uint64, len(plan.Topics))}
	var accepted, errs atomic.Uint64
	perTopic := make([]atomic.Uint64, len(plan.Topics))
	gap := time.Duration(float64(lanes) * float64(time.Second) / plan.Rate)
	res.Offered = uint64(plan.Rate * plan.Window.Seconds())
	start, monoStart := time.Now(), monoNow()
	end := start.Add(plan.Window)
	var wg sync.WaitGroup
	for l := 0; l < lanes; l++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var seq uint32
			userSeq := map[uint32]uint32{}
			buf := make([]byte, 0, max(plan.Size, payloadHeader))
			// Lanes start staggered so that they do not fire together.
			offset := gap * time.Duration(l) / time.Duration(lanes)
			for k := 0; ; k++ {
				at := offset + gap*time.Duration(k)
				if at >= plan.Window {
					return
				}
				if d := time.Until(start.Add(at)); d > 0 {
					time.Sleep(d)
				}
				if time.Now().After(end) {
					return
				}
				sent := monoStart + uint64(at)
				d := &pushpb.Data{}
				if plan.Users > 0 {
					// users of this lane: l+1, l+1+lanes, ...
					u := uint32(l + 1 + lanes*rand.IntN((plan.Users-l+lanes-1)/lanes))
					userSeq[u]++
					d.Uid, d.Topic = UserName(u), plan.Private
					d.Data = appendPayload(buf[:0], plan.Size, sent, 0, userSeq[u], u)
				} else {
					seq++
					d.Topic = plan.Topics[l]
					d.Data = appendPayload(buf[:0], plan.Size, sent, uint16(l), seq, 0)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.PushData(ctx, d)
				cancel()
				if err != nil {
					errs.Add(1)
					continue
				}
				accepted.Add(1)
				if plan.Users == 0 {
					perTopic[l].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	res.Accepted, res.Errors = accepted.Load(), errs.Load()
	for i := range perTopic {
		res.PerTopic[i] = perTopic[i].Load()
	}
	return res
}
