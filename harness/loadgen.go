package harness

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gpush/gpush/core/wsframe"
)

// The load generator is its own process (gpush-bench -loadgen): it holds
// client connections, reads with large buffers, parses frame headers,
// counts and samples latency, and answers the runner's commands, one JSON
// line each way over stdin and stdout.

// Cmd is one command from the runner to a generator.
type Cmd struct {
	Op      string   `json:"op"` // dial, attack, churn, stopchurn, reset, report, quit
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
}

// histShards spread the latency histogram so that readers on different
// cores rarely touch the same counters.
const histShards = 8

type loadgen struct {
	mu      sync.Mutex
	conns   []*lconn
	attack  []net.Conn
	hists   [histShards]Hist
	epoch   atomic.Uint32 // a reset bumps it; readers then clear their order state
	closing atomic.Bool
	closed  atomic.Uint64

	churnStop chan struct{}
	churnDone chan struct{}
	churnOps  atomic.Uint64
	churnErrs atomic.Uint64

	attackStop  chan struct{}
	attackBytes atomic.Uint64
}

// lconn is one generator connection.
type lconn struct {
	nc        net.Conn
	user      uint32
	hist      *Hist
	delivered atomic.Uint64
	ooo       atomic.Uint64
	mis       atomic.Uint64
	acks      chan int // setup replies: their status
	epoch     uint32
	last      []uint32 // last sequence per topic index (owned by the reader)
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
		err = g.dial(c)
	case "attack":
		err = g.startAttack(c)
	case "churn":
		g.startChurn(c)
	case "stopchurn":
		g.stopChurn()
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

// dial opens c.N subscribers and waits until every request was answered.
func (g *loadgen) dial(c Cmd) error {
	if c.BufSize <= 0 {
		c.BufSize = 16 << 10
	}
	conns := make([]*lconn, c.N)
	errs := make(chan error, c.N)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			lc, err := g.open(c, c.First+i)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = lc
		}()
	}
	wg.Wait()
	close(errs)
	g.mu.Lock()
	for _, lc := range conns {
		if lc != nil {
			g.conns = append(g.conns, lc)
		}
	}
	g.mu.Unlock()
	if err, ok := <-errs; ok {
		return fmt.Errorf("dial: %d of %d failed, first: %w", len(errs)+1, c.N, err)
	}
	return nil
}

// open dials one subscriber, sends its requests, starts its reader and
// waits for its replies.
func (g *loadgen) open(c Cmd, idx int) (*lconn, error) {
	nc, rest, err := handshake(c.Addr)
	if err != nil {
		return nil, err
	}
	lc := &lconn{nc: nc, hist: &g.hists[idx%histShards], acks: make(chan int, 16)}
	var reqs []byte
	n := 0
	for j := 0; j < c.PerConn && len(c.Topics) > 0; j++ {
		reqs = appendRequest(reqs, 1, c.Topics[(idx+j)%len(c.Topics)], "")
		n++
	}
	if c.Private != "" {
		lc.user = uint32(idx + 1)
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: UserName(lc.user)}).SignedString([]byte(c.Secret))
		if err != nil {
			nc.Close()
			return nil, err
		}
		reqs = appendRequest(reqs, 3, "", tok)
		reqs = appendRequest(reqs, 5, c.Private, "")
		n += 2
	}
	go g.read(lc, rest, c.BufSize)
	if len(reqs) > 0 {
		if _, err := nc.Write(reqs); err != nil {
			nc.Close()
			return nil, err
		}
	}
	timeout := time.After(30 * time.Second)
	for ; n > 0; n-- {
		select {
		case st := <-lc.acks:
			if st != 0 {
				nc.Close()
				return nil, fmt.Errorf("request refused with status %d", st)
			}
		case <-timeout:
			nc.Close()
			return nil, errors.New("no reply to a setup request in 30s")
		}
	}
	return lc, nil
}

// UserName is the uid of user number n in the benchmarks.
func UserName(n uint32) string { return "u" + strconv.FormatUint(uint64(n), 10) }

// clientMask is the mask of every generator frame; the server unmasks.
var clientMask = [4]byte{1, 2, 3, 4}

func appendRequest(b []byte, code int, topic, data string) []byte {
	body := []byte(`{"code":` + strconv.Itoa(code))
	if topic != "" {
		body = append(body, `,"topic":"`+topic+`"`...)
	}
	if data != "" {
		body = append(body, `,"data":"`+data+`"`...)
	}
	body = append(body, '}')
	return wsframe.AppendMaskedFrame(b, ws.OpText, true, clientMask, body)
}

// handshake dials addr and upgrades; rest holds bytes read past the
// response headers.
func handshake(addr string) (net.Conn, []byte, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, nil, err
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 0, 512)
	tmp := make([]byte, 512)
	for {
		n, err := nc.Read(tmp)
		if err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("handshake: %w", err)
		}
		buf = append(buf, tmp[:n]...)
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			if !bytes.HasPrefix(buf, []byte("HTTP/1.1 101")) {
				nc.Close()
				line, _, _ := bytes.Cut(buf, []byte("\r\n"))
				return nil, nil, fmt.Errorf("handshake: %s", line)
			}
			nc.SetReadDeadline(time.Time{})
			return nc, append([]byte(nil), buf[i+4:]...), nil
		}
		if len(buf) > 8<<10 {
			nc.Close()
			return nil, nil, errors.New("handshake: response headers too long")
		}
	}
}

// read is the reader of one connection: large reads, frames parsed in
// place, one clock reading per read.
func (g *loadgen) read(lc *lconn, rest []byte, size int) {
	buf := make([]byte, size)
	n := copy(buf, rest)
	for {
		if n > 0 {
			off, ok := g.frames(lc, buf[:n], monoNow())
			if !ok {
				lc.nc.Close()
				g.serverClosed()
				return
			}
			n = copy(buf, buf[off:n])
			if n == len(buf) { // one frame larger than the buffer
				buf = append(buf, make([]byte, len(buf))...)
			}
		}
		m, err := lc.nc.Read(buf[n:])
		if err != nil {
			lc.nc.Close()
			g.serverClosed()
			return
		}
		n += m
	}
}

func (g *loadgen) serverClosed() {
	if !g.closing.Load() {
		g.closed.Add(1)
	}
}

// frames handles every whole frame in b and returns the bytes used; false
// when the server closed the connection.
func (g *loadgen) frames(lc *lconn, b []byte, now uint64) (int, bool) {
	off := 0
	for len(b)-off >= 2 {
		op := ws.OpCode(b[off] & 0x0f)
		plen, hdr := int(b[off+1]&0x7f), 2
		switch plen {
		case 126:
			if len(b)-off < 4 {
				return off, true
			}
			plen, hdr = int(binary.BigEndian.Uint16(b[off+2:])), 4
		case 127:
			if len(b)-off < 10 {
				return off, true
			}
			plen, hdr = int(binary.BigEndian.Uint64(b[off+2:])), 10
		}
		if len(b)-off < hdr+plen {
			return off, true
		}
		p := b[off+hdr : off+hdr+plen]
		off += hdr + plen
		switch op {
		case ws.OpText, ws.OpBinary:
			if len(p) > 0 && p[0] == '{' {
				g.reply(lc, p)
				continue
			}
			g.push(lc, p, now)
		case ws.OpClose:
			return off, false
		}
	}
	return off, true
}

// reply hands a setup reply's status to open; replies after setup (none
// are expected) are dropped.
func (g *loadgen) reply(lc *lconn, p []byte) {
	var r struct {
		Status int `json:"status"`
	}
	_ = json.Unmarshal(p, &r)
	select {
	case lc.acks <- r.Status:
	default:
	}
}

func (g *loadgen) push(lc *lconn, p []byte, now uint64) {
	sent, topic, seq, user, ok := payloadFields(p)
	if !ok {
		return
	}
	if e := g.epoch.Load(); lc.epoch != e {
		lc.epoch = e
		clear(lc.last)
	}
	if now > sent {
		lc.hist.Record((now - sent) / 1000)
	} else {
		lc.hist.Record(0)
	}
	lc.delivered.Add(1)
	if user != 0 && user != lc.user {
		lc.mis.Add(1)
	}
	if int(topic) >= len(lc.last) {
		lc.last = append(lc.last, make([]uint32, int(topic)+1-len(lc.last))...)
	}
	if seq <= lc.last[topic] {
		lc.ooo.Add(1)
	}
	lc.last[topic] = seq
}

// reset zeroes the counters and order state for a new window.
func (g *loadgen) reset() {
	g.epoch.Add(1)
	for i := range g.hists {
		g.hists[i].Reset()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, lc := range g.conns {
		lc.delivered.Store(0)
		lc.ooo.Store(0)
		lc.mis.Store(0)
	}
	g.closed.Store(0)
	g.churnOps.Store(0)
	g.churnErrs.Store(0)
	g.attackBytes.Store(0)
}

func (g *loadgen) report() Report {
	r := Report{Hist: map[int]uint64{}}
	g.mu.Lock()
	r.Conns = len(g.conns)
	for _, lc := range g.conns {
		r.Delivered += lc.delivered.Load()
		r.OutOfOrder += lc.ooo.Load()
		r.Misdelivered += lc.mis.Load()
	}
	g.mu.Unlock()
	m := Merged(r.Hist)
	for i := range g.hists {
		m.Add(g.hists[i].Counts())
	}
	r.Closed = g.closed.Load()
	r.ChurnOps, r.ChurnErrors = g.churnOps.Load(), g.churnErrs.Load()
	r.AttackBytes = g.attackBytes.Load()
	r.CPUSeconds, _ = procCPU(os.Getpid())
	return r
}

// startAttack opens c.N attackers, each sending the first bytes of a
// masked text frame that claims more payload than it will ever send: with
// c.Every > 0 one more byte each, every c.Every ms; else nothing more.
func (g *loadgen) startAttack(c Cmd) error {
	for i := 0; i < c.N; i++ {
		nc, _, err := handshake(c.Addr)
		if err != nil {
			return fmt.Errorf("attacker %d: %w", i, err)
		}
		// 2-byte header (FIN, text; masked, 126 = 16-bit length), the length
		// 4000, the mask, and 4 payload bytes.
		head := []byte{0x81, 0x80 | 126, 4000 >> 8, 4000 & 0xff, 1, 2, 3, 4, 'a', 'b', 'c', 'd'}
		if _, err := nc.Write(head); err != nil {
			nc.Close()
			return fmt.Errorf("attacker %d: %w", i, err)
		}
		g.mu.Lock()
		g.attack = append(g.attack, nc)
		g.mu.Unlock()
		go io.Copy(io.Discard, nc) // keep the receive window open
	}
	if c.Every > 0 && g.attackStop == nil {
		g.attackStop = make(chan struct{})
		go g.trickle(time.Duration(c.Every)*time.Millisecond, g.attackStop)
	}
	return nil
}

// trickle sends one payload byte per attacker per tick; 4,000 bytes take
// far longer than any run, so no frame ever completes.
func (g *loadgen) trickle(every time.Duration, stop chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	one := []byte{'e'}
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		g.mu.Lock()
		att := g.attack
		g.mu.Unlock()
		for _, nc := range att {
			if _, err := nc.Write(one); err == nil {
				g.attackBytes.Add(1)
			}
		}
	}
}

// startChurn runs connect, subscribe, unsubscribe, disconnect cycles at
// c.Rate per second until stopchurn.
func (g *loadgen) startChurn(c Cmd) {
	if g.churnStop != nil {
		return
	}
	g.churnStop, g.churnDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(g.churnDone)
		gap := time.Duration(float64(time.Second) / c.Rate)
		sem := make(chan struct{}, 32)
		var wg sync.WaitGroup
		next := time.Now()
		for i := 0; ; i++ {
			select {
			case <-g.churnStop:
				wg.Wait()
				return
			case sem <- struct{}{}:
			}
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(gap)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := churnCycle(c.Addr, fmt.Sprintf("churn%d", i%100)); err != nil {
					g.churnErrs.Add(1)
					return
				}
				g.churnOps.Add(1)
			}()
		}
	}()
}

func (g *loadgen) stopChurn() {
	if g.churnStop == nil {
		return
	}
	close(g.churnStop)
	<-g.churnDone
	g.churnStop = nil
}

// churnCycle is one short-lived client.
func churnCycle(addr, topic string) error {
	nc, rest, err := handshake(addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(rest), nc))
	for _, code := range []int{1, 2} {
		if _, err := nc.Write(appendRequest(nil, code, topic, "")); err != nil {
			return err
		}
		if _, err := readFrame(br); err != nil {
			return err
		}
	}
	_, err = nc.Write(wsframe.AppendMaskedFrame(nil, ws.OpClose, true, clientMask, []byte{0x03, 0xe8}))
	return err
}

// readFrame reads one unmasked server frame's payload.
func readFrame(br *bufio.Reader) ([]byte, error) {
	var h [10]byte
	if _, err := io.ReadFull(br, h[:2]); err != nil {
		return nil, err
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(br, h[2:4]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint16(h[2:]))
	case 127:
		if _, err := io.ReadFull(br, h[2:10]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint64(h[2:]))
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return p, err
}

func (g *loadgen) shutdown() {
	g.closing.Store(true)
	g.stopChurn()
	if g.attackStop != nil {
		close(g.attackStop)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, lc := range g.conns {
		lc.nc.Close()
	}
	for _, nc := range g.attack {
		nc.Close()
	}
}
