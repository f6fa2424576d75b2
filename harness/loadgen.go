package harness

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// The load generator is its own process (gpush-bench -loadgen): it holds
// subscriber connections (subscribers.go), split-frame attackers
// (attack.go) and churning short-lived clients (churn.go), and answers the
// runner's commands, one JSON line each way over stdin and stdout.

// Cmd is one command from the runner to a generator.
type Cmd struct {
	Op      string   `json:"op"` // dial, attack, churn, stopchurn, storm, drop, reset, report, quit
	Addr    string   `json:"addr,omitempty"`
	N       int      `json:"n,omitempty"`        // connections to open
	First   int      `json:"first,omitempty"`    // global index of the first: topics and users follow it
	Topics  []string `json:"topics,omitempty"`   // the scenario's public topics, in payload-index order
	PerConn int      `json:"per_conn,omitempty"` // connection i subscribes Topics[(i+j) % len] for j < PerConn
	Private string   `json:"private,omitempty"`  // log in as user i+1 and subscribe this private topic
	Secret  string   `json:"secret,omitempty"`   // HS256 secret for the login tokens
	BufSize int      `json:"buf_size,omitempty"` // read buffer per connection
	Rate    float64  `json:"rate,omitempty"`     // churn: cycles per second
	Every   int      `json:"every_ms,omitempty"` // attack: one byte per attacker this often (0: hold)
	Proto   string   `json:"proto,omitempty"`    // dial: the client protocol ("": gpush's, ProtoCentrifugo)
}

// Report is a generator's answer.
type Report struct {
	Err          string         `json:"err,omitempty"`
	Conns        int            `json:"conns"`
	Delivered    uint64         `json:"delivered"`
	OutOfOrder   uint64         `json:"out_of_order"`
	Misdelivered uint64         `json:"misdelivered"`
	Closed       uint64         `json:"closed"` // connections the server closed
	Hist         map[int]uint64 `json:"hist,omitempty"`
	CPUSeconds   float64        `json:"cpu_s"`
	ChurnOps     uint64         `json:"churn_ops"`
	ChurnErrors  uint64         `json:"churn_errors"`
	AttackBytes  uint64         `json:"attack_bytes"`
	Storm        *StormReport   `json:"storm,omitempty"`
}

// loadgen is one generator process's state: what each command drives.
type loadgen struct {
	subs   subscribers
	attack splitAttack
	churn  churn
	storm  storm
}

// ServeLoadgen runs a generator on in and out until quit or EOF.
func ServeLoadgen(in io.Reader, out io.Writer) error {
	g := &loadgen{}
	defer g.shutdown()
	dec := json.NewDecoder(bufio.NewReader(in))
	enc := json.NewEncoder(out)
	for {
		var c Cmd
		if err := dec.Decode(&c); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("loadgen: read command: %w", err)
		}
		if c.Op == "quit" {
			return enc.Encode(Report{})
		}
		rep := g.do(c)
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("loadgen: write report: %w", err)
		}
	}
}

func (g *loadgen) do(c Cmd) Report {
	var err error
	switch c.Op {
	case "dial":
		err = g.subs.dial(c)
	case "attack":
		err = g.attack.start(c)
	case "churn":
		g.churn.start(c)
	case "stopchurn":
		g.churn.stop()
	case "storm":
		err = g.storm.open(c)
	case "drop":
		g.storm.dropAll()
	case "reset":
		g.reset()
	case "report":
	default:
		err = fmt.Errorf("unknown op %q", c.Op)
	}
	rep := g.report()
	if err != nil {
		rep.Err = err.Error()
	}
	return rep
}

// reset zeroes the counters and order state for a new window.
func (g *loadgen) reset() {
	g.subs.reset()
	g.churn.reset()
	g.attack.reset()
}

func (g *loadgen) report() Report {
	r := g.subs.report()
	r.ChurnOps, r.ChurnErrors = g.churn.counts()
	r.AttackBytes = g.attack.bytes.Load()
	g.storm.report(&r)
	r.CPUSeconds, _ = procCPU(os.Getpid())
	return r
}

func (g *loadgen) shutdown() {
	g.subs.closing.Store(true)
	g.churn.stop()
	g.attack.close()
	g.storm.close()
	g.subs.close()
}
