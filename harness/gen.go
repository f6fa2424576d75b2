package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// maxPerGen caps the connections of one generator process, far below the
// 20,000-file limit: the rest go to another process.
const maxPerGen = 8000

// Gen is the runner's handle on one generator process.
type Gen struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *json.Decoder
	conns int
}

// StartGen starts a generator: argv runs ServeLoadgen on stdin/stdout.
func StartGen(argv []string) (*Gen, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GPUSH_LOADGEN=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start generator: %w", err)
	}
	return &Gen{cmd: cmd, in: in, out: json.NewDecoder(bufio.NewReader(out))}, nil
}

// Do sends one command and waits for its report.
func (g *Gen) Do(c Cmd) (Report, error) {
	var r Report
	if err := json.NewEncoder(g.in).Encode(c); err != nil {
		return r, fmt.Errorf("generator %d: %w", g.cmd.Process.Pid, err)
	}
	if err := g.out.Decode(&r); err != nil {
		return r, fmt.Errorf("generator %d: %w", g.cmd.Process.Pid, err)
	}
	if r.Err != "" {
		return r, fmt.Errorf("generator %d: %s", g.cmd.Process.Pid, r.Err)
	}
	return r, nil
}

// Pid is the generator's process id.
func (g *Gen) Pid() int { return g.cmd.Process.Pid }

// Stop asks the generator to quit and reaps it.
func (g *Gen) Stop() {
	json.NewEncoder(g.in).Encode(Cmd{Op: "quit"})
	g.in.Close()
	done := make(chan struct{})
	go func() { g.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		g.cmd.Process.Kill()
		<-done
	}
}

// Gens is the set of generator processes of one run.
type Gens struct {
	argv []string
	list []*Gen
}

// NewGens starts no process until connections are asked for.
func NewGens(argv []string) *Gens { return &Gens{argv: argv} }

// Dial opens c.N subscribers (c.First counting up), spread over generator
// processes of at most maxPerGen connections each.
func (gs *Gens) Dial(c Cmd) error {
	left, first := c.N, c.First
	for left > 0 {
		g, err := gs.withRoom()
		if err != nil {
			return err
		}
		n := min(left, maxPerGen-g.conns)
		cc := c
		cc.Op, cc.N, cc.First = "dial", n, first
		if _, err := g.Do(cc); err != nil {
			return err
		}
		g.conns += n
		left -= n
		first += n
	}
	return nil
}

// withRoom returns a generator with room for another connection.
func (gs *Gens) withRoom() (*Gen, error) {
	for _, g := range gs.list {
		if g.conns < maxPerGen {
			return g, nil
		}
	}
	g, err := StartGen(gs.argv)
	if err != nil {
		return nil, err
	}
	gs.list = append(gs.list, g)
	return g, nil
}

// One returns a generator for a side job (attackers, churn): a process of
// its own, so its connections and CPU do not mix with the subscribers'.
func (gs *Gens) One() (*Gen, error) {
	g, err := StartGen(gs.argv)
	if err != nil {
		return nil, err
	}
	g.conns = maxPerGen // nobody else's subscribers
	gs.list = append(gs.list, g)
	return g, nil
}

// All sends c to every generator at once and merges their reports.
func (gs *Gens) All(c Cmd) (Report, error) {
	reps := make([]Report, len(gs.list))
	errs := make([]error, len(gs.list))
	var wg sync.WaitGroup
	for i, g := range gs.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = g.Do(c)
		}()
	}
	wg.Wait()
	sum := Report{Hist: map[int]uint64{}}
	for i, r := range reps {
		if errs[i] != nil {
			return sum, errs[i]
		}
		sum.Conns += r.Conns
		sum.Delivered += r.Delivered
		sum.OutOfOrder += r.OutOfOrder
		sum.Misdelivered += r.Misdelivered
		sum.Closed += r.Closed
		sum.CPUSeconds += r.CPUSeconds
		sum.ChurnOps += r.ChurnOps
		sum.ChurnErrors += r.ChurnErrors
		sum.AttackBytes += r.AttackBytes
		Merged(sum.Hist).Add(r.Hist)
	}
	return sum, nil
}

// Stop ends every generator.
func (gs *Gens) Stop() {
	var wg sync.WaitGroup
	for _, g := range gs.list {
		wg.Add(1)
		go func() { defer wg.Done(); g.Stop() }()
	}
	wg.Wait()
	gs.list = nil
}
