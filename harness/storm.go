package harness

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/gpush/gpush/core/wsframe/wsclient"
)

// Reconnect backoff of the storm's clients, as the JavaScript client's
// defaults: attempt k waits a uniform random time in [0, min(stormMax,
// stormBase x 2^k)] (full jitter), k from 0 after the drop.
const (
	stormBase = 500 * time.Millisecond
	stormMax  = 20 * time.Second
)

// storm is a generator's reconnect-storm clients (op storm, then drop):
// each subscribes to one topic of a server with history, counts the pushes
// it reads (the raw frames carry no offset: the count is the offset), and
// after the drop reconnects with backoff and resubscribes with since.
type storm struct {
	mu      sync.Mutex
	clients []*stormClient
	drop    time.Time // when the drop began; set before any client sees its socket closed
	wg      sync.WaitGroup
	stop    chan struct{} // closed by close
	once    sync.Once
}

// stormClient is one storm connection and its place in the channel.
type stormClient struct {
	addr, topic string
	c           atomic.Pointer[wsclient.Conn]
	off         uint64        // offset of the last push read: the channel's sequence, counted (the follow goroutine's)
	epoch       string        // (the follow goroutine's)
	errs        atomic.Uint64 // pushes whose payload sequence was not off+1
	attempts    atomic.Uint64 // reconnect attempts
	recovered   atomic.Int32  // 1: recovered true after the drop, -1: false
	doneNs      atomic.Int64  // ns from the drop to the end of the replay
	accepted    atomic.Int64  // ns from the drop to the reconnect's handshake
	offNow      atomic.Uint64 // off, for reports
}

// stormReply is a subscribe reply's fields the storm reads.
type stormReply struct {
	Status    int    `json:"status"`
	Offset    uint64 `json:"offset"`
	Epoch     string `json:"epoch"`
	Recovered *bool  `json:"recovered"`
}

// open connects c.N clients subscribed to c.Topics[0].
func (s *storm) open(c Cmd) error {
	if len(c.Topics) == 0 {
		return fmt.Errorf("storm: no topic")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop == nil {
		s.stop = make(chan struct{})
	}
	for range c.N {
		cl := &stormClient{addr: c.Addr, topic: c.Topics[0]}
		r, err := cl.subscribe(false)
		if err != nil {
			return fmt.Errorf("storm: %w", err)
		}
		cl.off, cl.epoch = r.Offset, r.Epoch
		s.clients = append(s.clients, cl)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			cl.follow(s.stop, s.dropTime)
		}()
	}
	return nil
}

// dropTime is when the drop began.
func (s *storm) dropTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drop
}

// subscribe dials and subscribes, with since when asked, and returns the
// reply; the connection is then cl.c.
func (cl *stormClient) subscribe(since bool) (stormReply, error) {
	var r stormReply
	c, err := wsclient.Dial(cl.addr, wsclient.Config{Timeout: 5 * time.Second, BufSize: 4096})
	if err != nil {
		return r, err
	}
	req := fmt.Sprintf(`{"code":1,"topic":%q}`, cl.topic)
	if since {
		req = fmt.Sprintf(`{"code":1,"topic":%q,"since":{"offset":%d,"epoch":%q}}`, cl.topic, cl.off, cl.epoch)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(wsclient.Text(req)); err != nil {
		c.Close()
		return r, err
	}
	for { // pushes of an earlier subscription never come: this is a new connection
		_, p, err := c.Next()
		if err != nil {
			c.Close()
			return r, err
		}
		if len(p) > 0 && p[0] == '{' {
			if err := json.Unmarshal(p, &r); err != nil || r.Status != 0 || r.Epoch == "" {
				c.Close()
				return r, fmt.Errorf("subscribe refused or without history: %s", p)
			}
			break
		}
	}
	c.SetDeadline(time.Time{})
	cl.c.Store(c)
	return r, nil
}

// follow reads pushes until the connection ends; after the drop it
// reconnects and goes on, until the storm stops.
func (cl *stormClient) follow(stop <-chan struct{}, drop func() time.Time) {
	for {
		cl.read(0)
		select {
		case <-stop:
			return
		default:
		}
		if !cl.reconnect(stop, drop()) {
			return
		}
	}
}

// read counts pushes until the connection ends; the until'th (when > 0)
// completes a recovery.
func (cl *stormClient) read(until uint64) bool {
	c := cl.c.Load()
	for {
		h, p, err := c.Next()
		if err != nil || h.OpCode == ws.OpClose {
			c.Close()
			return false
		}
		_, _, seq, _, ok := payloadFields(p)
		if !ok || p[0] == '{' { // not a push
			continue
		}
		cl.off++
		if uint64(seq) != cl.off {
			cl.errs.Add(1)
			cl.off = uint64(seq)
		}
		cl.offNow.Store(cl.off)
		if until > 0 && cl.off == until {
			return true
		}
	}
}

// reconnect retries with backoff until a resubscribe is answered, reads
// the replay, and records when it was done. It reports false when the
// storm stopped meanwhile.
func (cl *stormClient) reconnect(stop <-chan struct{}, drop time.Time) bool {
	for k := 0; ; k++ {
		wait := time.Duration(rand.Int64N(int64(min(stormMax, stormBase<<min(k, 10))) + 1))
		select {
		case <-stop:
			return false
		case <-time.After(wait):
		}
		cl.attempts.Add(1)
		r, err := cl.subscribe(true)
		if err != nil {
			continue
		}
		cl.accepted.Store(int64(time.Since(drop)))
		if r.Recovered == nil || !*r.Recovered {
			cl.recovered.Store(-1)
			cl.off, cl.epoch = r.Offset, r.Epoch
			cl.doneNs.Store(int64(time.Since(drop)))
			return true
		}
		if r.Offset > cl.off && !cl.read(r.Offset) {
			continue // lost during the replay: try again from where it got
		}
		cl.recovered.Store(1)
		cl.doneNs.Store(int64(time.Since(drop)))
		return true
	}
}

// dropAll closes every client's socket at once; each reconnects.
func (s *storm) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop = time.Now()
	for _, cl := range s.clients {
		cl.c.Load().Close()
	}
}

// report sums the storm's clients.
func (s *storm) report(r *Report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clients) == 0 {
		return
	}
	r.Storm = &StormReport{Clients: len(s.clients), MinOffset: ^uint64(0)}
	var done, accepts []int64
	for _, cl := range s.clients {
		st := r.Storm
		st.Attempts += cl.attempts.Load()
		st.OrderErrors += cl.errs.Load()
		st.MinOffset = min(st.MinOffset, cl.offNow.Load())
		switch cl.recovered.Load() {
		case 1:
			st.Recovered++
		case -1:
			st.NotRecovered++
		}
		if d := cl.doneNs.Load(); d > 0 {
			done = append(done, d)
		}
		if a := cl.accepted.Load(); a > 0 {
			accepts = append(accepts, a)
		}
	}
	slices.Sort(done)
	if len(done) > 0 {
		r.Storm.AllDoneS = float64(done[len(done)-1]) / 1e9
		r.Storm.MedianDoneS = float64(done[len(done)/2]) / 1e9
	}
	r.Storm.PeakAcceptsPerS = peakRate(accepts, 100*time.Millisecond)
}

// peakRate is the most events within any one window of width w (events
// at ns offsets ts), per second.
func peakRate(ts []int64, w time.Duration) float64 {
	slices.Sort(ts)
	best, j := 0, 0
	for i := range ts {
		for ts[i]-ts[j] >= int64(w) {
			j++
		}
		best = max(best, i-j+1)
	}
	return float64(best) / w.Seconds()
}

// close stops every client.
func (s *storm) close() {
	s.mu.Lock()
	if s.stop != nil {
		s.once.Do(func() { close(s.stop) })
	}
	for _, cl := range s.clients {
		cl.c.Load().Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// StormReport is a generator's storm clients, summed.
type StormReport struct {
	Clients         int     `json:"clients"`
	Recovered       int     `json:"recovered"`     // resubscribed with recovered true and read the replay
	NotRecovered    int     `json:"not_recovered"` // told recovered false
	AllDoneS        float64 `json:"all_done_s"`    // from the drop until the last client was done
	MedianDoneS     float64 `json:"median_done_s"`
	PeakAcceptsPerS float64 `json:"peak_accepts_per_s"` // reconnect handshakes completed, the busiest 100 ms, per second
	Attempts        uint64  `json:"attempts"`           // reconnect attempts (failed ones included)
	OrderErrors     uint64  `json:"order_errors"`       // pushes read out of sequence: a gap or a duplicate
	MinOffset       uint64  `json:"min_offset"`         // the least offset any client has read up to
}

// stormWait bounds how long the runner waits for every client to recover.
const stormWait = 90 * time.Second

// storm measures a reconnect storm on a server with history: l.Conns
// clients subscribed to one topic are dropped at once, a third into a push
// window, and reconnect with backoff, resubscribing with since. Figures:
// the time until the last one recovered, the busiest accept rate, and
// whether every client read every accepted push in order.
func (b *Bench) storm(j job) ([]Row, error) {
	l := j.load
	extra := map[string]string{}
	if b.historySize() == 0 {
		extra["history-size"] = "1000"
	}
	srv, err := b.startServer(j, extra)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	row := b.row(j, map[string]float64{"conns": float64(l.Conns), "size": float64(l.Size), "rate": l.Rate}, srv.Config)
	gens := NewGens(b.Loadgen)
	defer gens.Stop()
	g, err := gens.One()
	if err != nil {
		return []Row{row}, err
	}
	topics := topicNames("storm", 1)
	if _, err := g.Do(Cmd{Op: "storm", Addr: srv.WSAddr, N: l.Conns, Topics: topics}); err != nil {
		return []Row{row}, err
	}
	res, err := b.stormWindow(srv, g, Plan{Topics: topics, Rate: l.Rate, Size: l.Size, Window: b.Profile.Window})
	if err != nil {
		return []Row{row}, err
	}
	rep, err := stormSettle(g, res.Accepted)
	if rep.Storm != nil {
		stormFigures(row.Figures, rep.Storm, res.Accepted)
		row.Notes = stormNotes(rep.Storm, l.Conns)
	}
	return []Row{row}, err
}

// stormWindow pushes plan and drops every client a third into it.
func (b *Bench) stormWindow(srv *Server, g *Gen, plan Plan) (PushResult, error) {
	done := make(chan PushResult, 1)
	go func() { done <- Push(srv.Push, plan) }()
	time.Sleep(plan.Window / 3)
	_, err := g.Do(Cmd{Op: "drop"})
	return <-done, err
}

// stormSettle waits until every client is done recovering and has read
// every accepted push, or stormWait passes.
func stormSettle(g *Gen, accepted uint64) (Report, error) {
	deadline := time.Now().Add(stormWait)
	for {
		rep, err := g.Do(Cmd{Op: "report"})
		st := rep.Storm
		if err != nil || st == nil || time.Now().After(deadline) {
			return rep, err
		}
		if st.Recovered+st.NotRecovered == st.Clients && st.MinOffset >= accepted {
			return rep, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stormFigures(f map[string]float64, st *StormReport, accepted uint64) {
	f[FigStormAllDone] = st.AllDoneS
	f[FigStormMedianDone] = st.MedianDoneS
	f[FigStormRecovered] = float64(st.Recovered)
	f[FigStormNotRecovered] = float64(st.NotRecovered)
	f[FigStormPeakAccepts] = st.PeakAcceptsPerS
	f[FigStormAttempts] = float64(st.Attempts)
	f[FigStormMissing] = float64(accepted) - float64(min(st.MinOffset, accepted))
	f[FigOutOfOrder] = float64(st.OrderErrors)
	f[FigPushesAccepted] = float64(accepted)
}

func stormNotes(st *StormReport, conns int) []string {
	var n []string
	if left := conns - st.Recovered - st.NotRecovered; left > 0 {
		n = append(n, fmt.Sprintf("%d of %d clients had not recovered after %v", left, conns, stormWait))
	}
	if st.OrderErrors > 0 {
		n = append(n, fmt.Sprintf("%d pushes read out of sequence (a gap or a duplicate)", st.OrderErrors))
	}
	return n
}
