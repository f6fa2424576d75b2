package policy

import (
	"runtime"
	"sync"
	"time"

	"github.com/gpush/gpush/core"
)

// Defaults of Batched.
const (
	DefaultFlushInterval = 10 * time.Millisecond
	DefaultFlushBytes    = 16 << 10
)

// BatchConfig configures Batched; the zero value works.
type BatchConfig struct {
	Interval time.Duration // flush at most this long after a frame is queued (10 ms)
	Bytes    int           // flush at once when this much is pending (16 KiB)
	Flushers int           // flusher goroutines (GOMAXPROCS)
}

// Batched coalesces frames per connection: a connection's pending frames go
// out in one writev at the interval's next beat after the first of them
// was queued (at most Interval later), or when Bytes are pending,
// whichever comes first. No goroutine or timer per connection: a fixed set
// of flushers each keeps a list of the connections with pending output,
// and sleeps while that list is empty.
type Batched struct {
	cfg      BatchConfig
	flushers []*flusher
	wg       sync.WaitGroup
	stop     chan struct{}
	once     sync.Once
}

// NewBatched starts the flushers; Close stops them.
func NewBatched(cfg BatchConfig) *Batched {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultFlushInterval
	}
	if cfg.Bytes <= 0 {
		cfg.Bytes = DefaultFlushBytes
	}
	if cfg.Flushers <= 0 {
		cfg.Flushers = runtime.GOMAXPROCS(0)
	}
	b := &Batched{cfg: cfg, stop: make(chan struct{})}
	origin := time.Now()
	for i := range cfg.Flushers {
		// each flusher's beat a fraction of the interval after the last's,
		// so that the flushers do not all write at the same instants
		off := cfg.Interval * time.Duration(i) / time.Duration(cfg.Flushers)
		f := &flusher{interval: cfg.Interval, origin: origin.Add(off), wake: make(chan struct{}, 1)}
		b.flushers = append(b.flushers, f)
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			f.run(b.stop)
		}()
	}
	return b
}

// Config returns the configuration in force.
func (b *Batched) Config() BatchConfig { return b.cfg }

// Queued implements core.Policy.
func (b *Batched) Queued(c *core.Conn, pending int) bool {
	if pending >= b.cfg.Bytes {
		c.Stats().Flushes.Add(1)
		return true // the hub writes it once the walk is over
	}
	// Load first: the flag is set for all but the first frame of a batch,
	// and a CompareAndSwap, even a failing one, is a locked instruction
	// (a full fence) per delivery.
	if !c.Scheduled.Load() && c.Scheduled.CompareAndSwap(false, true) {
		b.flushers[c.ID()%uint64(len(b.flushers))].add(c)
	}
	return false
}

// Coalesce implements core.Policy.
func (*Batched) Coalesce() bool { return true }

// Close stops the flushers after one last flush.
func (b *Batched) Close() error {
	b.once.Do(func() { close(b.stop) })
	b.wg.Wait()
	return nil
}

// flusher owns a list of connections with pending output.
type flusher struct {
	interval time.Duration
	origin   time.Time // the beat's phase: flushes after a sleep fall on origin + k*interval
	last     time.Time // when the last flush ended (owned by the run goroutine)
	wake     chan struct{}

	mu    sync.Mutex // guards dirty
	dirty []*core.Conn
	spare []*core.Conn // owned by the run goroutine
}

func (f *flusher) add(c *core.Conn) {
	f.mu.Lock()
	f.dirty = append(f.dirty, c)
	wake := len(f.dirty) == 1
	f.mu.Unlock()
	if wake {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// run sleeps until a connection is dirty, waits for the interval's next
// beat (at most one interval, half of one on average: nextBeat) so that
// more frames gather, and flushes every connection that was dirty by then;
// while connections keep coming, it flushes on the interval's beat
// (nextFlush).
func (f *flusher) run(stop <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-stop:
			f.flush()
			return
		case <-f.wake:
		}
		for next := firstDeadline(f.origin, f.last, time.Now(), f.interval); ; {
			t.Reset(time.Until(next))
			select {
			case <-stop:
				f.flush()
				return
			case <-t.C:
			}
			f.flush()
			f.last = time.Now()
			if !f.dirtyNow() {
				break // sleep until a connection is dirty again
			}
			next = nextFlush(next, time.Now(), f.interval)
		}
	}
}

// firstDeadline is the first flush deadline after a sleep: the next beat
// (nextBeat), but never less than one interval after the last flush
// ended, so that a flusher that slept only briefly between floods of
// frames (saturated) lets a whole interval's frames gather instead of
// flushing again soon with a few.
func firstDeadline(origin, last, now time.Time, interval time.Duration) time.Time {
	next := nextBeat(origin, now, interval)
	if keep := last.Add(interval); keep.After(next) {
		return keep
	}
	return next
}

// nextBeat is the next beat of the grid origin + k*interval strictly
// after now, for any integer k (a flusher's origin starts up to one
// interval in the future, NewBatched). A frame then waits at most
// one interval, as with a deadline one interval after the first frame, but
// a lone push waits half an interval on average instead of a whole one
// (issue 13: p99 at 1,000 subscribers per node).
func nextBeat(origin, now time.Time, interval time.Duration) time.Time {
	d := now.Sub(origin)
	k := d / interval // rounds toward zero: floor it for a now before origin
	if d < 0 && d%interval != 0 {
		k--
	}
	return origin.Add((k + 1) * interval)
}

// lateGap divides the interval into the least time between the end of one
// flush and the start of the next: a quarter of the interval.
const lateGap = 4

// nextFlush is the deadline after the flush due at last, when that flush
// ended at now: one interval after last (the beat, so a flush that took
// part of the interval does not push the next one later), but never less
// than interval/lateGap after now. A flush that overran the beat (the
// flushers are saturated) is followed by a short gap, not by another flush
// at once: back to back, each flush carried a few frames, so the writes
// per delivery doubled and took the CPU from the pushers, which made the
// next flush late again. The gap lets frames gather while it bounds what
// saturation adds to a frame's wait by interval/lateGap, where waiting a
// whole interval after the flush (a590114) added the interval (issue 11).
// Measured (issue 12, flood, 8 interleaved pairs on a loaded machine):
// 0.91 of the beat's CPU per delivery, and a lower p99 (0.84).
func nextFlush(last, now time.Time, interval time.Duration) time.Time {
	next := last.Add(interval)
	if earliest := now.Add(interval / lateGap); earliest.After(next) {
		return earliest
	}
	return next
}

// dirtyNow reports whether connections wait for the next flush.
func (f *flusher) dirtyNow() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.dirty) > 0
}

func (f *flusher) flush() {
	f.mu.Lock()
	list := f.dirty
	f.dirty = f.spare[:0]
	f.mu.Unlock()
	for i, c := range list {
		c.Scheduled.Store(false)
		// Skip a connection with nothing pending: a Bytes kick wrote it out
		// meanwhile, or it is gone. A frame queued after the Store above
		// schedules it again, so none is stranded.
		if c.Out.Pending() > 0 {
			c.Stats().Flushes.Add(1) // one atomic beside a write syscall
			c.Link().Kick()
		}
		list[i] = nil
	}
	f.spare = list
}
