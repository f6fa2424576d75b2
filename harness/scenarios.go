package harness

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/gpush/gpush/proto/pushpb"
)

// idle ramps subscribed, silent connections and reads the server's
// memory after GC at each step: the slopes are the cost of a connection.
func (b *Bench) idle(j job) ([]Row, error) {
	srv, err := b.startServer(j, nil)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	gens := NewGens(b.Loadgen)
	defer gens.Stop()
	steps := b.Profile.Idle
	row := b.row(j, map[string]float64{"conns_max": float64(steps[len(steps)-1])}, srv.Config)
	topics := topicNames("idle", 100)
	have := 0
	for _, n := range steps {
		err := gens.Dial(Cmd{Addr: srv.WSAddr, N: n - have, First: have, Topics: topics, PerConn: 1, BufSize: 2048, Proto: srv.Proto})
		if err != nil {
			return []Row{row}, err
		}
		have = n
		if err := srv.WaitConns(int64(n), time.Minute); err != nil {
			return []Row{row}, err
		}
		time.Sleep(200 * time.Millisecond) // let the last replies and acks settle
		m, err := srv.Memory()
		if err != nil {
			return []Row{row}, err
		}
		row.Points = append(row.Points, Point{
			Conns: float64(n), RSSBytes: float64(m.RSSBytes), HeapBytes: float64(m.HeapBytes),
			StackBytes: float64(m.StackBytes), Goroutines: float64(m.Goroutines), SockPages: float64(SockPages()),
		})
	}
	fit := func(y func(Point) float64) float64 {
		xs, ys := make([]float64, len(row.Points)), make([]float64, len(row.Points))
		for i, p := range row.Points {
			xs[i], ys[i] = p.Conns, y(p)
		}
		return slope(xs, ys)
	}
	f := row.Figures
	f[FigRSSPerConn] = fit(func(p Point) float64 { return p.RSSBytes })
	f[FigHeapPerConn] = fit(func(p Point) float64 { return p.HeapBytes })
	f[FigStackPerConn] = fit(func(p Point) float64 { return p.StackBytes })
	f[FigHeapStackPerConn] = fit(func(p Point) float64 { return p.HeapBytes + p.StackBytes })
	f[FigGoroutinesPerConn] = fit(func(p Point) float64 { return p.Goroutines })
	f[FigSockBytesPerConn] = fit(func(p Point) float64 { return p.SockPages * float64(os.Getpagesize()) })
	if b.historySize() > 0 {
		return []Row{row}, b.keptMemory(srv, f)
	}
	return []Row{row}, nil
}

// KeptChannels is how many channels the idle scenario fills with history on.
const KeptChannels = 2000

// keptMemory, with history on, measures what history holds: it pushes
// (64-byte payloads, in batches) to KeptChannels channels nobody
// subscribes to, one push each and then up to the history size, reading
// the live heap after each step. The second step's growth per push added
// to the history is a kept push's cost; the first step's per channel,
// less one kept push, is a channel's.
func (b *Bench) keptMemory(srv *Server, f map[string]float64) error {
	topics := topicNames("kept", KeptChannels)
	var ms [3]MemoryReport
	for step, rounds := range []int{0, 1, b.historySize() - 1} {
		if err := pushRounds(srv, topics, rounds); err != nil {
			return err
		}
		m, err := srv.Memory()
		if err != nil {
			return err
		}
		ms[step] = m
	}
	heap := func(i int) float64 { return float64(ms[i].HeapBytes) }
	if kept := ms[2].HistoryPushes - ms[1].HistoryPushes; kept > 0 {
		f[FigHeapPerKeptPush] = (heap(2) - heap(1)) / float64(kept)
		f[FigHeapPerChannel] = (heap(1)-heap(0))/KeptChannels - f[FigHeapPerKeptPush]
	}
	f[FigHistoryPushes] = float64(ms[2].HistoryPushes)
	return nil
}

// pushRounds pushes rounds pushes of 64 bytes to each topic, by
// PushBatch calls of 1,000 items (the server's default most).
func pushRounds(srv *Server, topics []string, rounds int) error {
	payload := make([]byte, 64)
	var items []*pushpb.Data
	for r := range rounds {
		for _, t := range topics {
			items = append(items, &pushpb.Data{Topic: t, Data: payload})
			if len(items) == 1000 || (r == rounds-1 && t == topics[len(topics)-1]) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				rep, err := srv.Push.PushBatch(ctx, &pushpb.DataBatch{Items: items})
				cancel()
				if err != nil {
					return fmt.Errorf("kept pushes: %w", err)
				}
				if len(rep.GetErrors()) > 0 {
					return fmt.Errorf("kept pushes: %s", rep.GetErrors()[0].GetMessage())
				}
				items = items[:0]
			}
		}
	}
	return nil
}

// topicNames are n topics of a scenario.
func topicNames(prefix string, n int) []string {
	ts := make([]string, n)
	for i := range ts {
		ts[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return ts
}

// traffic measures one push load: fanout, flood, private, churn, batch.
// The private scenario measures every push mode on one server, a row each;
// the others push in the bench's PushMode.
func (b *Bench) traffic(j job) ([]Row, error) {
	l := j.load
	params := map[string]float64{"conns": float64(l.Conns), "size": float64(l.Size), "rate": b.rate(l)}
	extra := map[string]string{}
	switch j.scenario {
	case "flood":
		params["topics"] = float64(l.Topics)
	case "private":
		delete(params, "conns")
		params["users"] = float64(l.Conns)
		params["lanes"] = float64(b.lanes())
	case "churn":
		params["churn"] = l.Churn
	case "batch":
		params["flush_ms"] = float64(j.flushMs)
		extra["flush-interval"] = fmt.Sprintf("%dms", j.flushMs)
	}
	srv, err := b.startServer(j, extra)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	row := b.row(j, modeParams(params, b.PushMode, b.BatchSize), srv.Config)
	gens := NewGens(b.Loadgen)
	defer gens.Stop()

	topics := topicNames(j.scenario, max(l.Topics, 1))
	cmd := Cmd{Addr: srv.WSAddr, N: l.Conns, Topics: topics, PerConn: len(topics), BufSize: readBuf(l.Conns), Proto: srv.Proto}
	plan := Plan{Topics: topics, Rate: b.rate(l), Size: l.Size, Window: b.Profile.Window, Mode: b.PushMode, Batch: b.BatchSize}
	expect := func(r PushResult) uint64 { return r.Accepted * uint64(l.Conns) }
	modes := []string{b.PushMode}
	if j.scenario == "private" {
		cmd.Topics, cmd.PerConn, cmd.Private, cmd.Secret = nil, 0, "inbox", benchSecret
		plan.Topics, plan.Users, plan.Private, plan.Lanes = nil, l.Conns, "inbox", b.lanes()
		expect = func(r PushResult) uint64 { return r.Accepted }
		modes = srv.modes()
	}
	if err := gens.Dial(cmd); err != nil {
		return []Row{row}, err
	}
	if err := srv.WaitConns(int64(l.Conns), time.Minute); err != nil {
		return []Row{row}, err
	}
	if j.scenario == "churn" {
		g, err := gens.One()
		if err != nil {
			return []Row{row}, err
		}
		if _, err := g.Do(Cmd{Op: "churn", Addr: srv.WSAddr, Rate: l.Churn}); err != nil {
			return []Row{row}, err
		}
		defer g.Do(Cmd{Op: "stopchurn"})
	}
	var rows []Row
	for _, m := range modes {
		row := b.row(j, modeParams(params, m, b.BatchSize), srv.Config)
		plan.Mode = m
		rep, err := b.window(srv, gens, plan, expect, row.Figures)
		if err != nil {
			return append(rows, row), err
		}
		if err := b.historyFigures(srv, row.Figures); err != nil {
			return append(rows, row), err
		}
		if j.scenario == "churn" {
			row.Figures[FigChurnOpsPerSec] = float64(rep.ChurnOps) / row.Figures["elapsed_s"]
			if rep.ChurnErrors > 0 {
				row.Notes = append(row.Notes, fmt.Sprintf("%d churn cycles failed", rep.ChurnErrors))
			}
		}
		row.Notes = append(row.Notes, windowNotes(row.Figures)...)
		rows = append(rows, row)
	}
	return rows, nil
}

// historyFigures adds, with history on, what history holds after a
// window. (A window keeps too few pushes for their heap to show above the
// window's own garbage: the idle scenario measures that.)
func (b *Bench) historyFigures(srv *Server, f map[string]float64) error {
	if b.historySize() == 0 {
		return nil
	}
	m, err := srv.Memory()
	if err != nil {
		return err
	}
	f[FigHistoryPushes] = float64(m.HistoryPushes)
	f[FigHistoryChannels] = float64(m.HistoryChannels)
	return nil
}

// modeParams adds the push mode to a row's parameters: "batch" (items per
// call) or "stream" (1); unary adds nothing, so unary rows compare with
// rows from before push modes existed.
func modeParams(params map[string]float64, mode string, batch int) map[string]float64 {
	p := make(map[string]float64, len(params)+1)
	for k, v := range params {
		p[k] = v
	}
	switch mode {
	case ModeBatch:
		p["batch"] = float64(cmp.Or(batch, DefaultBatch))
	case ModeStream:
		p["stream"] = 1
	}
	return p
}

// rate is a load's push rate: 0 (closed loop) when the bench pushes
// closed-loop.
func (b *Bench) rate(l Load) float64 {
	if b.ClosedLoop {
		return 0
	}
	return l.Rate
}

// lanes is the private scenario's number of concurrent pushers.
func (b *Bench) lanes() int { return cmp.Or(b.Lanes, DefaultLanes) }

// readBuf sizes a generator connection's read buffer: large reads, but
// not gigabytes of them at 10,000 connections.
func readBuf(conns int) int {
	if conns > 2000 {
		return 16 << 10
	}
	return 64 << 10
}

// split measures victims' fan-out without and then with attackers holding
// half frames that they complete one byte at a time.
func (b *Bench) split(j job) ([]Row, error) {
	l := j.load
	srv, err := b.startServer(j, nil)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	gens := NewGens(b.Loadgen)
	defer gens.Stop()
	params := func(a int) map[string]float64 {
		p := map[string]float64{"conns": float64(l.Conns), "size": float64(l.Size), "rate": b.rate(l), "attackers": float64(a)}
		return modeParams(p, b.PushMode, b.BatchSize)
	}
	calm, attacked := b.row(j, params(0), srv.Config), b.row(j, params(l.Attackers), srv.Config)
	topics := topicNames("split", 1)
	if err := gens.Dial(Cmd{Addr: srv.WSAddr, N: l.Conns, Topics: topics, PerConn: 1, BufSize: readBuf(l.Conns)}); err != nil {
		return []Row{calm}, err
	}
	if err := srv.WaitConns(int64(l.Conns), time.Minute); err != nil {
		return []Row{calm}, err
	}
	plan := Plan{Topics: topics, Rate: b.rate(l), Size: l.Size, Window: b.Profile.Window, Mode: b.PushMode, Batch: b.BatchSize}
	expect := func(r PushResult) uint64 { return r.Accepted * uint64(l.Conns) }
	if _, err := b.window(srv, gens, plan, expect, calm.Figures); err != nil {
		return []Row{calm}, err
	}
	calm.Notes = windowNotes(calm.Figures)

	before, err := srv.Memory()
	if err != nil {
		return []Row{calm}, err
	}
	atk, err := gens.One()
	if err != nil {
		return []Row{calm}, err
	}
	if _, err := atk.Do(Cmd{Op: "attack", Addr: srv.WSAddr, N: l.Attackers, Every: l.EveryMs}); err != nil {
		return []Row{calm, attacked}, err
	}
	if err := srv.WaitConns(int64(l.Conns+l.Attackers), time.Minute); err != nil {
		return []Row{calm, attacked}, err
	}
	after, err := srv.Memory()
	if err != nil {
		return []Row{calm, attacked}, err
	}
	// Read syscalls per attacker byte, while only the attackers talk.
	r0, _ := atk.Do(Cmd{Op: "report"})
	s0, _ := SampleProc(srv.Pid())
	time.Sleep(max(b.Profile.Baseline, 500*time.Millisecond))
	r1, _ := atk.Do(Cmd{Op: "report"})
	s1, _ := SampleProc(srv.Pid())
	f := attacked.Figures
	if n := r1.AttackBytes - r0.AttackBytes; n > 0 {
		f[FigReadsPerAttackByte] = float64(s1.Syscr-s0.Syscr) / float64(n)
	}
	f[FigRSSPerAttacker] = (float64(after.RSSBytes) - float64(before.RSSBytes)) / float64(l.Attackers)
	f[FigGoroutinesPerAtk] = float64(after.Goroutines-before.Goroutines) / float64(l.Attackers)
	if _, err := b.window(srv, gens, plan, expect, f); err != nil {
		return []Row{calm, attacked}, err
	}
	attacked.Notes = windowNotes(f)
	return []Row{calm, attacked}, nil
}

// window measures one open-loop push window: an idle baseline of the
// server's syscalls, the pushes, a wait until the clients have everything
// the accepted pushes imply (or the drain time passes), and the figures.
func (b *Bench) window(srv *Server, gens *Gens, plan Plan, expect func(PushResult) uint64, f map[string]float64) (Report, error) {
	p := b.Profile
	s0, err := SampleProc(srv.Pid())
	if err != nil {
		return Report{}, err
	}
	time.Sleep(p.Baseline)
	s1, err := SampleProc(srv.Pid())
	if err != nil {
		return Report{}, err
	}
	idleW := float64(s1.Syscw-s0.Syscw) / p.Baseline.Seconds()

	if _, err := gens.All(Cmd{Op: "reset"}); err != nil {
		return Report{}, err
	}
	p0, err := SampleProc(srv.Pid())
	if err != nil {
		return Report{}, err
	}
	m0, _ := SampleMachineCPU()
	c0 := clientCPU(gens)
	t0 := time.Now()
	res := Push(srv.Push, plan)
	want := expect(res)
	deadline := time.Now().Add(p.Drain)
	var rep Report
	for {
		rep, err = gens.All(Cmd{Op: "report"})
		if err != nil {
			return rep, err
		}
		if rep.Delivered >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(t0).Seconds()
	p1, err := SampleProc(srv.Pid())
	if err != nil {
		return rep, fmt.Errorf("server gone: %w", err)
	}
	m1, _ := SampleMachineCPU()
	c1 := clientCPU(gens)

	d := float64(rep.Delivered)
	cpu := p1.CPUSeconds - p0.CPUSeconds
	f[FigPushesOffered] = float64(res.Offered)
	f[FigPushesAccepted] = float64(res.Accepted)
	f[FigPushErrors] = float64(res.Errors)
	f[FigPushCalls] = float64(res.Calls)
	f[FigExpected] = float64(want)
	f[FigDelivered] = d
	f["elapsed_s"] = elapsed
	f[FigDeliveredPerSec] = d / elapsed
	f[FigServerCPU] = cpu
	f[FigClientCPU] = c1 - c0
	f[FigMachineCPU] = m0.Util(m1)
	f[FigServerRSS] = float64(p1.RSSBytes)
	f[FigClosed] = float64(rep.Closed)
	f[FigOutOfOrder] = float64(rep.OutOfOrder)
	f[FigMisdelivered] = float64(rep.Misdelivered)
	if d > 0 {
		writes := float64(p1.Syscw-p0.Syscw) - idleW*elapsed
		f[FigWritesPerDelivery] = math.Max(writes, 0) / d
		f[FigCPUPerDelivery] = cpu / d * 1e6
		if res.Accepted > 0 {
			f[FigCPUPerPush] = cpu / float64(res.Accepted) * 1e6
		}
		if cpu > 0 {
			f[FigDeliveriesPerCPU] = d / cpu
		}
		h := Merged(rep.Hist)
		f[FigLatP50], f[FigLatP99], f[FigLatP999], f[FigLatMax] = h.Quantile(0.5), h.Quantile(0.99), h.Quantile(0.999), h.Quantile(1)
	}
	return rep, nil
}

// windowNotes flags what a reader must know about a window's figures.
func windowNotes(f map[string]float64) []string {
	var n []string
	if f[FigDelivered] < f[FigExpected] {
		n = append(n, fmt.Sprintf("delivered %.0f of %.0f expected", f[FigDelivered], f[FigExpected]))
	}
	if f[FigPushesAccepted] < 0.95*f[FigPushesOffered] {
		n = append(n, fmt.Sprintf("the server accepted %.0f of %.0f offered pushes in the window", f[FigPushesAccepted], f[FigPushesOffered]))
	}
	if f[FigPushErrors] > 0 {
		n = append(n, fmt.Sprintf("%.0f push errors", f[FigPushErrors]))
	}
	if f[FigOutOfOrder] > 0 {
		n = append(n, fmt.Sprintf("%.0f frames out of order", f[FigOutOfOrder]))
	}
	if f[FigMisdelivered] > 0 {
		n = append(n, fmt.Sprintf("%.0f frames reached the wrong user", f[FigMisdelivered]))
	}
	if f[FigClosed] > 0 {
		n = append(n, fmt.Sprintf("the server closed %.0f client connections", f[FigClosed]))
	}
	if f[FigMachineCPU] > 0.95 {
		n = append(n, fmt.Sprintf("machine CPU %.0f%% busy: the generators may set the ceiling", 100*f[FigMachineCPU]))
	}
	return n
}

// clientCPU is the CPU time of every generator process and of this one
// (the pushers).
func clientCPU(gens *Gens) float64 {
	t, _ := procCPU(os.Getpid())
	for _, g := range gens.list {
		c, _ := procCPU(g.Pid())
		t += c
	}
	return t
}
