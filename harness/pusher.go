package harness

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpush/gpush/proto/pushpb"
)

// Push modes: which push API call carries a plan's pushes.
const (
	ModeUnary  = "unary"  // one PushData call per push
	ModeBatch  = "batch"  // PushBatch calls of Plan.Batch pushes, per lane
	ModeStream = "stream" // one PushStream per lane for the whole window
)

// Modes are the push modes, in the order the private scenario runs them.
var Modes = []string{ModeUnary, ModeBatch, ModeStream}

// DefaultBatch is the items per PushBatch call when Plan.Batch is 0.
const DefaultBatch = 100

// DefaultLanes is the private scenario's number of concurrent pushers.
const DefaultLanes = 8

// Plan is the push load of one window. With a Rate, it is open-loop:
// pushes are scheduled at a fixed rate and stamped with their scheduled
// time, so a server that falls behind shows it in latency instead of slowing
// the load (no coordinated omission). With Rate 0 it is closed-loop: each
// lane pushes as fast as its calls return, for the whole window. Each lane
// pushes one after another, so each topic or user sees its pushes in a
// defined order the clients can check.
type Plan struct {
	Topics  []string // public: one lane per topic, round robin over the rate
	Users   int      // private: users 1..Users, random, on Lanes lanes by user
	Private string   // the private topic
	Lanes   int
	Rate    float64 // pushes per second, all lanes together; 0: closed loop
	Size    int     // payload bytes
	Window  time.Duration
	Mode    string // ModeUnary (also ""), ModeBatch or ModeStream
	Batch   int    // ModeBatch: pushes per call (0: DefaultBatch); a lane sends what it holds when the window ends
}

// PushResult counts a window's pushes.
type PushResult struct {
	Offered  uint64   // scheduled in the window (closed loop: made)
	Accepted uint64   // answered OK
	Errors   uint64   // answered with an error
	Calls    uint64   // push API calls made (a stream is one)
	PerTopic []uint64 // accepted, by topic index (public plans)
}

// tally is what the lanes count, concurrently.
type tally struct {
	made, accepted, errs, calls atomic.Uint64
	perTopic                    []atomic.Uint64
}

// Push runs plan against c and returns when the window is over and every
// call made has returned.
func Push(c pushpb.PushClient, plan Plan) PushResult {
	lanes := len(plan.Topics)
	if plan.Users > 0 {
		lanes = max(1, min(plan.Lanes, plan.Users))
	}
	t := &tally{perTopic: make([]atomic.Uint64, len(plan.Topics))}
	start := time.Now()
	var wg sync.WaitGroup
	for l := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runLane(c, plan, l, lanes, start, t)
		}()
	}
	wg.Wait()
	res := PushResult{Offered: t.made.Load(), Accepted: t.accepted.Load(), Errors: t.errs.Load(), Calls: t.calls.Load()}
	if plan.Rate > 0 {
		res.Offered = uint64(plan.Rate * plan.Window.Seconds())
	}
	res.PerTopic = make([]uint64, len(plan.Topics))
	for i := range t.perTopic {
		res.PerTopic[i] = t.perTopic[i].Load()
	}
	return res
}

// runLane makes lane l's pushes until the window ends and hands them to a
// sender of the plan's mode.
func runLane(c pushpb.PushClient, plan Plan, l, lanes int, start time.Time, t *tally) {
	counted := func(ok, failed uint64) {
		t.accepted.Add(ok)
		t.errs.Add(failed)
		if plan.Users == 0 {
			t.perTopic[l].Add(ok)
		}
	}
	s := newSender(c, plan, &t.calls, counted)
	defer s.close()
	var gap, offset time.Duration
	if plan.Rate > 0 {
		gap = time.Duration(float64(lanes) * float64(time.Second) / plan.Rate)
		// Lanes start staggered so that they do not fire together.
		offset = gap * time.Duration(l) / time.Duration(lanes)
	}
	var seq uint32
	userSeq := map[uint32]uint32{}
	monoStart, end := monoNow(), start.Add(plan.Window)
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
		if plan.Rate <= 0 {
			sent = monoNow()
		}
		d := &pushpb.Data{}
		if plan.Users > 0 {
			// users of this lane: l+1, l+1+lanes, ...
			u := uint32(l + 1 + lanes*rand.IntN((plan.Users-l+lanes-1)/lanes))
			userSeq[u]++
			d.Uid, d.Topic = UserName(u), plan.Private
			d.Data = appendPayload(nil, plan.Size, sent, 0, userSeq[u], u)
		} else {
			seq++
			d.Topic = plan.Topics[l]
			d.Data = appendPayload(nil, plan.Size, sent, uint16(l), seq, 0)
		}
		t.made.Add(1)
		s.push(d)
	}
}

// sender carries one lane's pushes through one kind of push API call.
type sender interface {
	push(d *pushpb.Data) // the lane's next push, in order
	close()              // the window is over: send what is held, end the stream
}

// newSender returns the plan's kind of sender. count is called with the
// pushes answered OK and refused; calls counts API calls.
func newSender(c pushpb.PushClient, plan Plan, calls *atomic.Uint64, count func(ok, failed uint64)) sender {
	switch plan.Mode {
	case ModeBatch:
		return &batchSender{c: c, n: cmp.Or(plan.Batch, DefaultBatch), calls: calls, count: count}
	case ModeStream:
		return &streamSender{c: c, calls: calls, count: count, window: plan.Window}
	}
	return unarySender{c: c, calls: calls, count: count}
}

type unarySender struct {
	c     pushpb.PushClient
	calls *atomic.Uint64
	count func(ok, failed uint64)
}

func (s unarySender) push(d *pushpb.Data) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := s.c.PushData(ctx, d)
	cancel()
	s.calls.Add(1)
	if err != nil {
		s.count(0, 1)
		return
	}
	s.count(1, 0)
}

func (s unarySender) close() {}

// batchSender holds pushes until it has n, then sends them in one PushBatch.
type batchSender struct {
	c     pushpb.PushClient
	n     int
	items []*pushpb.Data
	calls *atomic.Uint64
	count func(ok, failed uint64)
}

func (s *batchSender) push(d *pushpb.Data) {
	s.items = append(s.items, d)
	if len(s.items) >= s.n {
		s.flush()
	}
}

func (s *batchSender) close() { s.flush() }

func (s *batchSender) flush() {
	if len(s.items) == 0 {
		return
	}
	n := uint64(len(s.items))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	r, err := s.c.PushBatch(ctx, &pushpb.DataBatch{Items: s.items})
	cancel()
	s.calls.Add(1)
	s.items = s.items[:0]
	if err != nil {
		s.count(0, n)
		return
	}
	refused := uint64(len(r.GetErrors()))
	s.count(n-refused, refused)
}

// streamSender sends every push of the window on one PushStream. The
// pushes count when the stream's reply says how many were refused.
type streamSender struct {
	c      pushpb.PushClient
	window time.Duration
	calls  *atomic.Uint64
	count  func(ok, failed uint64)

	stream pushpb.Push_PushStreamClient
	cancel context.CancelFunc
	sent   uint64
	err    error
}

func (s *streamSender) push(d *pushpb.Data) {
	if s.err != nil {
		s.count(0, 1)
		return
	}
	if s.stream == nil {
		var ctx context.Context
		ctx, s.cancel = context.WithTimeout(context.Background(), s.window+30*time.Second)
		s.calls.Add(1)
		if s.stream, s.err = s.c.PushStream(ctx); s.err != nil {
			s.count(0, 1)
			return
		}
	}
	if s.err = s.stream.Send(d); s.err != nil {
		s.count(0, 1)
		return
	}
	s.sent++
}

func (s *streamSender) close() {
	if s.stream == nil {
		return
	}
	defer s.cancel()
	r, err := s.stream.CloseAndRecv()
	if err != nil {
		s.count(0, s.sent)
		return
	}
	refused := uint64(len(r.GetErrors()))
	s.count(s.sent-refused, refused)
}

// checkMode reports whether m names a push mode.
func checkMode(m string) error {
	for _, k := range append([]string{""}, Modes...) {
		if m == k {
			return nil
		}
	}
	return fmt.Errorf("push mode %q: want unary, batch or stream", m)
}
