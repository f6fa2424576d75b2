//go:build linux

package soak

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// Soak parameters. GPUSH_SOAK sets the duration (a time.ParseDuration
// string) and makes the run big: thousands of connections, unless the race
// detector is on (at most 8,128 live goroutines; every client connection
// here has one); GPUSH_SOAK_CONNS sets the number of long-lived subscribers.
// Unset, the soak runs for a few seconds with a few hundred connections,
// inside `make test`.
const (
	durEnv   = "GPUSH_SOAK"
	connsEnv = "GPUSH_SOAK_CONNS"

	shortDur   = 3 * time.Second
	shortConns = 300
	bigConns   = 4000
	raceConns  = 1500 // most under the race detector
	// One process may open 20,000 files; clients and server share this one,
	// two files per connection, and churn, slow consumers and vanishing
	// clients come on top of the subscribers.
	maxConns = 8000
)

type soakParams struct {
	dur   time.Duration
	conns int
}

func params(t *testing.T) soakParams {
	p := soakParams{dur: shortDur, conns: shortConns}
	if v := os.Getenv(durEnv); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "%s=%q", durEnv, v)
		require.Positive(t, d, "%s", durEnv)
		p.dur = d
		if !raceEnabled {
			p.conns = bigConns
		}
	}
	if v := os.Getenv(connsEnv); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "%s=%q", connsEnv, v)
		require.Positive(t, n, "%s", connsEnv)
		p.conns = n
	}
	if raceEnabled && p.conns > raceConns {
		t.Logf("race detector: %d subscribers instead of %d", raceConns, p.conns)
		p.conns = raceConns
	}
	if p.conns > maxConns {
		t.Logf("file limit: %d subscribers instead of %d", maxConns, p.conns)
		p.conns = maxConns
	}
	return p
}

func clamp(d, lo, hi time.Duration) time.Duration { return min(hi, max(lo, d)) }

// Traffic of the soak.
const (
	nTopics      = 32
	topicGap     = 20 * time.Millisecond // each topic pusher's pace
	topicPushers = 4                     // the first pushes over HTTP, the others over gRPC
	topicSize    = 64
	bcastGap     = 100 * time.Millisecond // pushes to every connection
	floodBurst   = 200                    // pushes to topic "flood" per burst
	floodSize    = 16 << 10               // 22 KiB frames: a burst is 4.4 MiB, past what a stalled socket absorbs
	// floodLead is how many pushes the flood may run ahead of its slowest
	// fast subscriber: (floodLead+1) flood frames stay below maxQueued, so
	// a fast subscriber scheduled late is never a slow consumer.
	floodLead = 8
	maxQueued = 256 << 10
)

func topicName(i int) string { return "t" + strconv.Itoa(i) }

// subscriber is a long-lived connection: it subscribes before the first push
// and must receive every push for its topics, in order, up to each topic's
// end marker, and stay open.
type subscriber struct {
	c         *client
	topics    []string // besides "*", the pushes to every connection
	flood     bool
	floodNext atomic.Int64  // the next flood push it waits for
	complete  chan struct{} // closed when every end marker came
	done      chan struct{} // closed when its reader returned
	tr        *seqs
	code      int   // close code the server sent, set before done
	err       error // set before done
}

func (sb *subscriber) read() {
	defer close(sb.done)
	completed := false
	sb.code, _, sb.err = drain(sb.c, sb.tr, 24*time.Hour, func() bool {
		if sb.flood {
			sb.floodNext.Store(sb.tr.next["flood"])
		}
		if !completed && sb.tr.ended["*"] {
			for _, topic := range sb.topics {
				if !sb.tr.ended[topic] {
					return false
				}
			}
			completed = true
			close(sb.complete)
		}
		return false
	})
}

// soak is one run: the server, its subscribers, and the load around them.
type soak struct {
	t    *testing.T
	s    *st.Server
	p    soakParams
	idle time.Duration
	// floodGap is the time between flood bursts; slow consumers hold
	// three of them without reading.
	floodGap time.Duration

	subs  []*subscriber
	flood []*subscriber // the subscribers that take the floods
	stop  chan struct{} // closed when the run ends: no new load

	pushWG, loadWG sync.WaitGroup
	pushErrs       errs // the push API
	loadErrs       errs // churn, slow consumers, vanishing clients, probes

	topicNext [nTopics]int64 // next sequence number per topic, owned by its pusher until pushWG is done
	bcastNext int64
	floodNext int64
	probes    atomic.Int64

	sessions, splitReqs, unsubs, closeHandshakes atomic.Int64
	slow1008, slowOpen, vanished                 atomic.Int64
	peakHeap                                     atomic.Uint64
	peakConns                                    atomic.Int64
}

// TestSoak: thousands of connections (a few hundred in the short run) with
// churn (connect, subscribe, unsubscribe, disconnect in four ways),
// subscribe frames split across writes, pushes to topics (gRPC and HTTP)
// and to every connection, bursts of large pushes, slow consumers and
// clients that vanish without a close, all at once for GPUSH_SOAK. Every
// long-lived subscriber stays open and receives everything for its
// subscriptions in order; slow consumers get close 1008 after an in-order
// prefix, vanished clients close 1001; /healthz and the push API answer
// throughout; afterwards connections, goroutines and the heap after GC
// return to the baseline.
func TestSoak(t *testing.T) {
	p := params(t)
	k := &soak{
		t: t, p: p,
		idle:     clamp(p.dur/2, 3*time.Second, 20*time.Second),
		floodGap: clamp(p.dur/6, 250*time.Millisecond, time.Second),
		stop:     make(chan struct{}),
	}
	k.s = st.Start(t, variants.Default, func(c *server.Config) {
		c.Limits.IdleTimeout = k.idle
		c.Limits.MaxQueued = maxQueued
	})
	base := baseline(t, k.s)
	t.Logf("soak: %v, %d subscribers, idle timeout %v, flood every %v, race detector %v", p.dur, p.conns, k.idle, k.floodGap, raceEnabled)

	require.Less(t, (floodLead+1)*frameSize(floodSize), maxQueued*4/5, "the flood's fast subscribers are never slow consumers")
	k.subscribe()
	require.Equal(t, int64(p.conns), k.s.Hub().Stats().Conns.Load())
	pingStop := make(chan struct{})
	pingDone := k.ping(pingStop)

	start := time.Now()
	k.push()
	k.load()
	bgStop := make(chan struct{})
	var bg sync.WaitGroup
	var bgErrs errs
	sampleHeap(k.s, 2*time.Second, bgStop, &bg, &k.peakHeap, &k.peakConns, &bgErrs)
	time.Sleep(p.dur)
	close(k.stop)
	k.pushWG.Wait()
	k.endMarkers()
	k.loadWG.Wait()
	close(bgStop)
	bg.Wait()
	t.Logf("run: %v; then waited for the end markers and the load to finish", time.Since(start).Round(time.Millisecond))

	k.pushErrs.check(t, "the push API answers every push")
	k.loadErrs.check(t, "churn, slow consumers, vanishing clients and probes")
	bgErrs.check(t, "the memory report answers")
	k.checkSubscribers()
	close(pingStop)
	<-pingDone

	hs := k.s.Hub().Stats()
	t.Logf("churn sessions %d (split subscribes %d, unsubscribes %d, close handshakes %d); slow consumers closed 1008 %d, kept up %d; vanished clients closed 1001 %d; probes %d",
		k.sessions.Load(), k.splitReqs.Load(), k.unsubs.Load(), k.closeHandshakes.Load(), k.slow1008.Load(), k.slowOpen.Load(), k.vanished.Load(), k.probes.Load())
	t.Logf("server: pushes %d/%d/%d (all/topic/user), deliveries %d, slow consumers %d, closes 1001 %d, writes %d",
		hs.Pushes[core.TargetAll].Load(), hs.Pushes[core.TargetTopic].Load(), hs.Pushes[core.TargetUser].Load(),
		hs.Deliveries.Load(), hs.SlowConsumers.Load(), closes(hs, core.CloseGoingAway), hs.Writes.Load())
	assert.Positive(t, k.sessions.Load(), "churn sessions ran")
	assert.Positive(t, k.slow1008.Load(), "floods made slow consumers, closed with 1008")
	assert.Positive(t, k.vanished.Load(), "vanished clients were closed with 1001")
	assert.Positive(t, k.probes.Load(), "probes answered")

	peakBound := base.HeapBytes + uint64(p.conns)*(32<<10) + 64<<20
	t.Logf("peak connections sampled %d; peak heap after GC during the run %.1f MiB (bound %.1f MiB), baseline %.1f MiB",
		k.peakConns.Load(), mib(k.peakHeap.Load()), mib(peakBound), mib(base.HeapBytes))
	assert.LessOrEqual(t, k.peakHeap.Load(), peakBound, "heap after GC during the run")

	for _, sb := range k.subs {
		sb.c.nc.Close()
	}
	for _, sb := range k.subs {
		<-sb.done
	}
	k.subs, k.flood = nil, nil // the clients' buffers are the test's, not the server's
	settle(t, k.s, base, 0, slack{goroutines: 5, heap: 8<<20 + uint64(p.conns)*512}, time.Minute)
}

// subscribe opens the long-lived subscribers, each on two topics; the first
// few also take the floods, and three the probe pushes.
func (k *soak) subscribe() {
	t := k.t
	nFlood := min(16, max(4, k.p.conns/50))
	k.subs = make([]*subscriber, k.p.conns)
	var wg sync.WaitGroup
	var e errs
	next := atomic.Int64{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < k.p.conns; i = int(next.Add(1) - 1) {
				sb := &subscriber{
					topics:   []string{topicName(i % nTopics), topicName((i*7 + 3) % nTopics)},
					flood:    i < nFlood,
					complete: make(chan struct{}),
					done:     make(chan struct{}),
					tr:       newSeqs(true),
				}
				if sb.topics[0] == sb.topics[1] {
					sb.topics = sb.topics[:1]
				}
				bufSize := 4 << 10
				if sb.flood {
					sb.topics = append(sb.topics, "flood")
					bufSize = 32 << 10
				}
				if i < 3 {
					sb.topics = append(sb.topics, "probe")
				}
				c, err := dial(k.s.WSAddr, 0, bufSize)
				if err != nil {
					e.add("subscriber %d: %v", i, err)
					continue
				}
				sb.c = c
				k.subs[i] = sb
				for j, topic := range sb.topics {
					if err := c.request(fmt.Sprintf(`{"code":1,"topic":%q,"id":%d}`, topic, j), nil); err != nil {
						e.add("subscriber %d: %v", i, err)
					}
				}
				go sb.read()
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, sb := range k.subs {
			if sb != nil && sb.c != nil {
				sb.c.nc.Close()
			}
		}
	})
	e.check(t, "subscribers connect and subscribe")
	require.Zero(t, e.n)
	k.flood = k.subs[:nFlood]
}

// ping keeps the subscribers active: each sends the text "ping" six times
// per idle timeout, spread over the interval.
func (k *soak) ping(stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		const tick = 10 * time.Millisecond
		per := max(1, len(k.subs)*int(tick)/int(k.idle/6))
		frame := st.Text("ping")
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for i := 0; ; {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			for range per {
				k.subs[i%len(k.subs)].c.write(frame) // a failure shows as the subscriber's
				i++
			}
		}
	}()
	return done
}

// push starts the pushers: topics at a steady pace, pushes to every
// connection, and flood bursts, each sequential so that its pushes have an
// order, until k.stop closes.
func (k *soak) push() {
	every := func(d time.Duration, f func() bool) {
		k.pushWG.Add(1)
		go func() {
			defer k.pushWG.Done()
			tk := time.NewTicker(d)
			defer tk.Stop()
			for {
				select {
				case <-k.stop:
					return
				case <-tk.C:
				}
				if !f() {
					return
				}
			}
		}()
	}
	for w := range topicPushers {
		i := w
		every(topicGap, func() bool {
			topic := i
			i += topicPushers
			if i >= nTopics {
				i = w
			}
			seq := k.topicNext[topic]
			var err error
			if w == 0 {
				err = k.pushHTTP(topicName(topic), payload(seq, false, topicSize))
			} else {
				err = k.s.PushGRPC("", topicName(topic), payload(seq, false, topicSize), "")
			}
			if err != nil {
				k.pushErrs.add("topic %d push %d: %v", topic, seq, err)
				return false
			}
			k.topicNext[topic]++
			return true
		})
	}
	every(bcastGap, func() bool {
		if err := k.s.PushGRPC("", "", payload(k.bcastNext, false, topicSize), ""); err != nil {
			k.pushErrs.add("push to every connection %d: %v", k.bcastNext, err)
			return false
		}
		k.bcastNext++
		return true
	})
	every(k.floodGap, func() bool {
		for range floodBurst {
			if !k.floodWait() {
				return false
			}
			if err := k.s.PushGRPC("", "flood", payload(k.floodNext, false, floodSize), ""); err != nil {
				k.pushErrs.add("flood push %d: %v", k.floodNext, err)
				return false
			}
			k.floodNext++
		}
		return true
	})
	probe(k.s, 100*time.Millisecond, k.stop, &k.pushWG, &k.probes, &k.loadErrs)
}

// floodWait holds the flood until its fast subscribers are within floodLead
// pushes: they read everything, but may be scheduled late, and the flood is
// meant for the slow consumers. It reports false when they stop reading.
func (k *soak) floodWait() bool {
	for deadline := time.Now().Add(2 * time.Minute); ; {
		behind := false
		for _, sb := range k.flood {
			if k.floodNext-sb.floodNext.Load() > floodLead {
				select {
				case <-sb.done: // closed: its reader reports why
				default:
					behind = true
				}
			}
		}
		if !behind {
			return true
		}
		if time.Now().After(deadline) {
			k.pushErrs.add("the flood's fast subscribers stopped reading at push %d", k.floodNext)
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

func (k *soak) pushHTTP(topic string, data []byte) error {
	code, body, err := k.s.PushHTTP(st.PushJSON("", topic, data), "")
	if err == nil && code != 200 {
		err = fmt.Errorf("status %d: %s", code, body)
	}
	return err
}

// endMarkers pushes every topic's end marker once its pusher has stopped.
func (k *soak) endMarkers() {
	for i := range nTopics {
		if err := k.s.PushGRPC("", topicName(i), payload(k.topicNext[i], true, topicSize), ""); err != nil {
			k.pushErrs.add("end marker of topic %d: %v", i, err)
		}
	}
	for topic, seq := range map[string]int64{"": k.bcastNext, "flood": k.floodNext, "probe": k.probes.Load()} {
		if err := k.s.PushGRPC("", topic, payload(seq, true, topicSize), ""); err != nil {
			k.pushErrs.add("end marker of %q: %v", topic, err)
		}
	}
}

// load starts, until k.stop closes, the churners, the slow consumers and
// the vanishing clients.
func (k *soak) load() {
	churners := min(40, max(4, k.p.conns/100))
	for w := range churners {
		k.loadWG.Add(1)
		go func() {
			defer k.loadWG.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-k.stop:
					return
				default:
				}
				k.churn(rng)
				time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
			}
		}()
	}
	k.spawnEvery(k.floodGap, func(int) { k.slowConsumer() })
	k.spawnEvery(k.floodGap, func(int) { k.slowConsumer() })
	k.spawnEvery(k.idle/4, func(i int) { k.vanish(i%2 == 1) })
}

// spawnEvery runs f in a goroutine of its own every d until k.stop closes.
func (k *soak) spawnEvery(d time.Duration, f func(i int)) {
	k.loadWG.Add(1)
	go func() {
		defer k.loadWG.Done()
		tk := time.NewTicker(d)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-k.stop:
				return
			case <-tk.C:
			}
			k.loadWG.Add(1)
			go func() {
				defer k.loadWG.Done()
				f(i)
			}()
		}
	}()
}

// churn is one short session: connect, subscribe to one to three topics
// (some requests split across writes), receive for a while, perhaps
// unsubscribe, and disconnect in one of four ways. Pushes must arrive in
// order from the first one of each topic.
func (k *soak) churn(rng *rand.Rand) {
	c, err := dial(k.s.WSAddr, 0, 4<<10)
	if err != nil {
		k.loadErrs.add("churn: %v", err)
		return
	}
	defer c.nc.Close()
	k.sessions.Add(1)
	tr := newSeqs(false)
	topics := rng.Perm(nTopics)[:1+rng.IntN(3)]
	for j, ti := range topics {
		req := fmt.Sprintf(`{"code":1,"topic":%q,"id":%d}`, topicName(ti), j)
		if rng.IntN(3) == 0 { // split in three writes
			k.splitReqs.Add(1)
			f := st.Text(req)
			a := 1 + rng.IntN(len(f)-2)
			b := a + 1 + rng.IntN(len(f)-a-1)
			for _, part := range [][]byte{f[:a], f[a:b], f[b:]} {
				if err := c.write(part); err != nil {
					k.loadErrs.add("churn: split subscribe: %v", err)
					return
				}
				time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
			}
			err = c.await(req, tr.see)
		} else {
			err = c.request(req, tr.see)
		}
		if err != nil {
			k.loadErrs.add("churn: %v", err)
			return
		}
	}
	c.nc.SetReadDeadline(time.Now().Add(time.Duration(20+rng.IntN(200)) * time.Millisecond))
	for {
		op, p, err := c.frame()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			k.loadErrs.add("churn: read: %v", err)
			return
		}
		if op == ws.OpClose {
			k.loadErrs.add("churn: the server closed with %d", closeCode(p))
			return
		}
		if m, err := parse(p); err != nil {
			k.loadErrs.add("churn: %v", err)
			return
		} else if m.kind == kindPush {
			if err := tr.see(m.topic, m.seq, m.end); err != nil {
				k.loadErrs.add("churn: %v", err)
				return
			}
		}
	}
	c.nc.SetReadDeadline(time.Time{})
	if rng.IntN(2) == 0 {
		k.unsubs.Add(1)
		topic := topicName(topics[0])
		if err := c.request(fmt.Sprintf(`{"code":2,"topic":%q,"id":9}`, topic), tr.see); err != nil {
			k.loadErrs.add("churn: %v", err)
			return
		}
		tr.forget(topic)
	}
	switch rng.IntN(4) {
	case 0: // the close handshake
		k.closeHandshakes.Add(1)
		if err := c.closeFrame(1000); err != nil {
			k.loadErrs.add("churn: close: %v", err)
			return
		}
		code, ended, err := drain(c, tr, 30*time.Second, nil)
		if err != nil || code != 1000 || !ended {
			k.loadErrs.add("churn: close handshake: echo %d, socket closed %v, %v", code, ended, err)
		}
	case 1: // gone
	case 2: // half of a frame, then gone
		f := st.Text(`{"code":1,"topic":"never","id":1}`)
		c.write(f[:1+rng.IntN(len(f)-1)])
	case 3: // reset
		c.nc.(*net.TCPConn).SetLinger(0)
	}
}

// slowConsumer subscribes to the floods and does not read for three flood
// intervals, then reads what it has: an in-order prefix and, when the floods
// passed its limit meanwhile, close 1008. It sends heartbeats: it is slow,
// not idle.
func (k *soak) slowConsumer() {
	c, err := dial(k.s.WSAddr, 4096, 32<<10)
	if err != nil {
		k.loadErrs.add("slow consumer: %v", err)
		return
	}
	defer c.nc.Close()
	stop := make(chan struct{})
	var hb sync.WaitGroup
	defer hb.Wait()
	defer close(stop)
	heartbeat(c, k.idle/5, stop, &hb)
	tr := newSeqs(false)
	if err := c.request(`{"code":1,"topic":"flood","id":1}`, tr.see); err != nil {
		k.loadErrs.add("slow consumer: %v", err)
		return
	}
	time.Sleep(3 * k.floodGap)
	code, ended, err := drain(c, tr, 10*time.Second, nil)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded) && code == 0:
		k.slowOpen.Add(1) // it caught up before its limit
	case err != nil:
		k.loadErrs.add("slow consumer: %v", err)
	case code == core.ClosePolicy && ended:
		k.slow1008.Add(1)
	default:
		k.loadErrs.add("slow consumer: close %d, socket closed %v; want 1008", code, ended)
	}
}

// vanish connects (and, with half, writes half of a frame), then neither
// reads nor sends for past the idle timeout: it must find close 1001 after
// an in-order prefix of the pushes to every connection.
func (k *soak) vanish(half bool) {
	c, err := dial(k.s.WSAddr, 0, 4<<10)
	if err != nil {
		k.loadErrs.add("vanishing client: %v", err)
		return
	}
	defer c.nc.Close()
	if half {
		f := st.Text(`{"code":1,"topic":"never","id":1}`)
		if err := c.write(f[:len(f)/2]); err != nil {
			k.loadErrs.add("vanishing client: %v", err)
			return
		}
	}
	time.Sleep(k.idle + 2*time.Second)
	code, ended, err := drain(c, newSeqs(false), 30*time.Second, nil)
	if err != nil || code != core.CloseGoingAway || !ended {
		k.loadErrs.add("vanishing client (half frame %v): close %d, socket closed %v, %v; want 1001", half, code, ended, err)
		return
	}
	k.vanished.Add(1)
}

// checkSubscribers waits for every subscriber's end markers and checks that
// each stayed open and received everything in order.
func (k *soak) checkSubscribers() {
	t := k.t
	deadline := time.After(2*time.Minute + time.Duration(k.p.conns)*10*time.Millisecond)
	var failed errs
	for i, sb := range k.subs {
		select {
		case <-sb.complete:
		case <-sb.done:
		case <-deadline:
		}
		select {
		case <-sb.done:
			failed.add("subscriber %d (%v): its stream ended: close %d, %v, after %d pushes", i, sb.topics, sb.code, sb.err, sb.tr.n)
			continue
		default:
		}
		select {
		case <-sb.complete:
		default:
			failed.add("subscriber %d (%v): no end markers within the deadline", i, sb.topics)
		}
	}
	failed.check(t, "every subscriber stays open and receives every push for its topics in order")
	var n int64
	for _, sb := range k.subs {
		select {
		case <-sb.complete: // every pusher has stopped: tr is settled
			n += sb.tr.n
		default:
		}
	}
	t.Logf("subscribers received %d pushes", n)
}
