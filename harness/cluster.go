package harness

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// ClusterNodes are the node counts the cluster scenario measures side by
// side: one node (no broker) and two and three nodes joined through NATS.
var ClusterNodes = []int{1, 2, 3}

// clusterJobs are the cluster scenario's cases of one run and variant:
// the public fan-out at PerNode connections on each of 1, 2 and 3 nodes,
// each of those totals on fewer nodes too (one node, or two, doing the same
// total work on this machine's shared cores: the side-by-side the latency
// and CPU ratios read), PerNode connections all on a second node that only
// NATS feeds (remote: the hop alone, with one node's work on the machine),
// then private pushes at Conns in total. An external server (the floor)
// has no broker: it measures the one-node fan-outs only, the yardstick of
// what the machine allows at each total.
func clusterJobs(base job, cl ClusterLoad) []job {
	var js []job
	add := func(conns, nodes int, private, remote bool) {
		if External(base.variant) && (nodes > 1 || private) {
			return
		}
		j := base
		j.load, j.nodes, j.private, j.remote = cl.Load, nodes, private, remote
		j.load.Conns = conns
		js = append(js, j)
	}
	per := cmp.Or(cl.PerNode, cl.Conns/ClusterNodes[len(ClusterNodes)-1])
	for _, total := range ClusterNodes {
		for _, n := range ClusterNodes[:slices.Index(ClusterNodes, total)+1] {
			add(per*total, n, false, false)
		}
	}
	add(per, 2, false, true)
	if cl.Conns != per*ClusterNodes[len(ClusterNodes)-1] {
		for _, n := range ClusterNodes {
			add(cl.Conns, n, false, false)
		}
	}
	for _, n := range ClusterNodes {
		add(cl.Conns, n, true, false)
	}
	return js
}

// FigBrokerCPU is the NATS server's CPU time over a cluster window (also
// counted in server_cpu_s).
const FigBrokerCPU = "broker_cpu_s"

// natsProc is a NATS server process: Debian's nats-server when installed,
// else gpush-nats beside the server binary (make bench-cluster builds it).
type natsProc struct {
	cmd *exec.Cmd
	URL string
}

func startNATS(server string) (*natsProc, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(ports[0])
	cmd := exec.Command(filepath.Join(filepath.Dir(server), "gpush-nats"), "-addr", ports[0])
	if bin, err := exec.LookPath("nats-server"); err == nil {
		cmd = exec.Command(bin, "-a", host, "-p", port)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start NATS (%s): %w", cmd.Path, err)
	}
	n := &natsProc{cmd: cmd, URL: "nats://" + ports[0]}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", ports[0]); err == nil {
			c.Close()
			return n, nil
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, fmt.Errorf("NATS (%s) not listening on %s within 10 s", cmd.Path, ports[0])
		}
	}
}

func (n *natsProc) stop() {
	n.cmd.Process.Signal(os.Interrupt)
	n.cmd.Wait()
}

// cluster measures a fan-out whose connections are spread evenly over
// j.nodes nodes, the pushes made on the first; with more than one node they
// are joined through a NATS server process. With j.private the connections
// are users instead, each subscribed to its private channel, and the pushes
// go to random users (most of them on other nodes than the pushing one).
// CPU counts every process: the nodes and NATS (the others' from just
// before the window's idle baseline, when they are idle, to its end);
// writes per delivery count every node's socket writes.
func (b *Bench) cluster(j job) ([]Row, error) {
	l := j.load
	srvs, nats, err := b.startCluster(j)
	defer stopCluster(srvs, nats)
	if err != nil {
		return nil, err
	}
	params := map[string]float64{"conns": float64(l.Conns), "size": float64(l.Size), "rate": b.rate(l), "nodes": float64(j.nodes)}
	if j.private {
		params["private"] = 1
	}
	if j.remote {
		params["remote"] = 1
	}
	row := b.row(j, modeParams(params, b.PushMode, b.BatchSize), srvs[0].Config)
	gens := NewGens(b.Loadgen)
	defer gens.Stop()
	topics := topicNames("cluster", max(l.Topics, 1))
	per, subs := l.Conns/j.nodes, srvs
	if j.remote { // every connection on the last node, the pushes on the first
		per, subs = l.Conns, srvs[len(srvs)-1:]
	}
	for i, s := range subs {
		c := Cmd{Addr: s.WSAddr, N: per, First: i * per, Topics: topics, PerConn: len(topics), BufSize: readBuf(l.Conns)}
		if j.private {
			c.Topics, c.PerConn, c.Private, c.Secret = nil, 0, "inbox", benchSecret
		}
		if err := gens.Dial(c); err != nil {
			return []Row{row}, err
		}
		if err := s.WaitConns(int64(per), time.Minute); err != nil {
			return []Row{row}, err
		}
	}
	conns := uint64(per * len(subs))
	plan := Plan{Topics: topics, Rate: b.rate(l), Size: l.Size, Window: b.Profile.Window, Mode: b.PushMode, Batch: b.BatchSize}
	expect := func(r PushResult) uint64 { return r.Accepted * conns }
	if j.private {
		plan.Topics, plan.Users, plan.Private, plan.Lanes = nil, int(conns), "inbox", b.lanes()
		expect = func(r PushResult) uint64 { return r.Accepted }
	}
	others := otherPids(srvs[1:], nats)
	before, w0 := cpuOf(others), writesOf(srvs[1:])
	_, err = b.window(srvs[0], gens, plan, expect, row.Figures)
	addCPU(row.Figures, cpuOf(others).Sub(before), nats)
	if d := row.Figures[FigDelivered]; d > 0 {
		row.Figures[FigWritesPerDelivery] += float64(writesOf(srvs[1:])-w0) / d
	}
	row.Notes = windowNotes(row.Figures)
	return []Row{row}, err
}

// startCluster starts NATS (for more than one node) and j.nodes servers.
func (b *Bench) startCluster(j job) ([]*Server, *natsProc, error) {
	var nats *natsProc
	extra := map[string]string{}
	if j.nodes > 1 {
		var err error
		if nats, err = startNATS(b.Server); err != nil {
			return nil, nil, err
		}
		extra["broker"] = nats.URL
	}
	var srvs []*Server
	for i := range j.nodes {
		if nats != nil {
			extra["node-id"] = fmt.Sprintf("node%d", i+1)
		}
		s, err := b.startServer(j, extra)
		if err != nil {
			return srvs, nats, err
		}
		srvs = append(srvs, s)
	}
	return srvs, nats, nil
}

func stopCluster(srvs []*Server, nats *natsProc) {
	for _, s := range srvs {
		s.Stop()
	}
	if nats != nil {
		nats.stop()
	}
}

// otherPids are the processes of a cluster besides the first node; NATS's
// comes last.
func otherPids(srvs []*Server, nats *natsProc) []int {
	var pids []int
	for _, s := range srvs {
		pids = append(pids, s.Pid())
	}
	if nats != nil {
		pids = append(pids, nats.cmd.Process.Pid)
	}
	return pids
}

// writesOf is the write syscalls of the nodes so far, summed (the first
// node's window figure subtracts its idle baseline; the others' idle
// writes, a few heartbeats, are counted).
func writesOf(srvs []*Server) int64 {
	var n int64
	for _, s := range srvs {
		if p, err := SampleProc(s.Pid()); err == nil {
			n += p.Syscw
		}
	}
	return n
}

// cpuOf is the CPU seconds of each pid, in order.
func cpuOf(pids []int) cpuTimes {
	t := make(cpuTimes, len(pids))
	for i, p := range pids {
		t[i], _ = procCPU(p)
	}
	return t
}

type cpuTimes []float64

func (a cpuTimes) Sub(b cpuTimes) cpuTimes {
	d := make(cpuTimes, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return d
}

// addCPU adds the other processes' CPU to a window's server figures.
func addCPU(f map[string]float64, d cpuTimes, nats *natsProc) {
	total := 0.0
	for _, c := range d {
		total += c
	}
	if nats != nil && len(d) > 0 {
		f[FigBrokerCPU] = d[len(d)-1]
	}
	f[FigServerCPU] += total
	cpu := f[FigServerCPU]
	if dl := f[FigDelivered]; dl > 0 {
		f[FigCPUPerDelivery] = cpu / dl * 1e6
		if cpu > 0 {
			f[FigDeliveriesPerCPU] = dl / cpu
		}
	}
	if a := f[FigPushesAccepted]; a > 0 {
		f[FigCPUPerPush] = cpu / a * 1e6
	}
}
