package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gpush/gpush/core/wsframe"
	"github.com/gpush/gpush/core/wsframe/wsclient"
)

// histShards spread the latency histogram so that readers on different
// cores rarely touch the same counters.
const histShards = 8

// subscribers are a generator's long-lived connections: each subscribes,
// then reads with a large buffer, parses frames in place, counts and
// samples latency and checks order.
type subscribers struct {
	mu      sync.Mutex
	conns   []*subscriber
	hists   [histShards]Hist
	epoch   atomic.Uint32 // a reset bumps it; readers then clear their order state
	closing atomic.Bool
	closed  atomic.Uint64 // connections the server closed
}

// subscriber is one generator connection.
type subscriber struct {
	c         *wsclient.Conn
	user      uint32
	proto     string // Cmd.Proto: "" (gpush) or ProtoCentrifugo
	hist      *Hist
	delivered atomic.Uint64
	ooo       atomic.Uint64
	mis       atomic.Uint64
	acks      chan int // setup replies: their status
	epoch     uint32
	last      []uint32 // last sequence per topic index (owned by the reader)
}

// dialConfig is how every generator client connects: the handshake's
// buffer is small, since a subscriber reads into its own large buffer.
var dialConfig = wsclient.Config{Dialer: net.Dialer{Timeout: 10 * time.Second}, Timeout: 10 * time.Second, BufSize: 512}

// dial opens c.N subscribers and waits until every request was answered.
func (s *subscribers) dial(c Cmd) error {
	if c.BufSize <= 0 {
		c.BufSize = 16 << 10
	}
	conns := make([]*subscriber, c.N)
	errs := make(chan error, c.N)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sub, err := s.open(c, c.First+i)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = sub
		}()
	}
	wg.Wait()
	close(errs)
	s.add(conns)
	if err, ok := <-errs; ok {
		return fmt.Errorf("dial: %d of %d failed, first: %w", len(errs)+1, c.N, err)
	}
	return nil
}

// add keeps the subscribers that opened.
func (s *subscribers) add(conns []*subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range conns {
		if sub != nil {
			s.conns = append(s.conns, sub)
		}
	}
}

// open dials one subscriber, sends its requests, starts its reader and
// waits for its replies.
func (s *subscribers) open(c Cmd, idx int) (*subscriber, error) {
	conn, err := wsclient.Dial(c.Addr, dialConfig)
	if err != nil {
		return nil, err
	}
	sub := &subscriber{c: conn, proto: c.Proto, hist: &s.hists[idx%histShards], acks: make(chan int, 16)}
	reqs, n, err := sub.requests(c, idx)
	if err != nil {
		conn.Close()
		return nil, err
	}
	go s.read(sub, c.BufSize)
	if len(reqs) > 0 {
		if _, err := conn.Write(reqs); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if err := sub.await(n); err != nil {
		conn.Close()
		return nil, err
	}
	return sub, nil
}

// requests are subscriber idx's setup requests, and how many there are:
// its public topics, then a login and its private topic.
func (sub *subscriber) requests(c Cmd, idx int) ([]byte, int, error) {
	if c.Proto == ProtoCentrifugo {
		return sub.centrifugoRequests(c, idx)
	}
	var reqs []byte
	n := 0
	for j := 0; j < c.PerConn && len(c.Topics) > 0; j++ {
		reqs = appendRequest(reqs, 1, c.Topics[(idx+j)%len(c.Topics)], "")
		n++
	}
	if c.Private == "" {
		return reqs, n, nil
	}
	sub.user = uint32(idx + 1)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: UserName(sub.user)}).SignedString([]byte(c.Secret))
	if err != nil {
		return nil, 0, err
	}
	reqs = appendRequest(reqs, 3, "", tok)
	reqs = appendRequest(reqs, 5, c.Private, "")
	return reqs, n + 2, nil
}

// await waits for n setup replies, each of status 0.
func (sub *subscriber) await(n int) error {
	timeout := time.After(30 * time.Second)
	for ; n > 0; n-- {
		select {
		case st := <-sub.acks:
			if st != 0 {
				return fmt.Errorf("request refused with status %d", st)
			}
		case <-timeout:
			return errors.New("no reply to a setup request in 30s")
		}
	}
	return nil
}

// UserName is the uid of user number n in the benchmarks.
func UserName(n uint32) string { return "u" + strconv.FormatUint(uint64(n), 10) }

// appendRequest appends a client request frame to b.
func appendRequest(b []byte, code int, topic, data string) []byte {
	body := []byte(`{"code":` + strconv.Itoa(code))
	if topic != "" {
		body = append(body, `,"topic":"`+topic+`"`...)
	}
	if data != "" {
		body = append(body, `,"data":"`+data+`"`...)
	}
	body = append(body, '}')
	return wsframe.AppendMaskedFrame(b, ws.OpText, true, wsclient.Mask, body)
}

// read is the reader of one connection: large reads, frames parsed in
// place, one clock reading per read.
func (s *subscribers) read(sub *subscriber, size int) {
	buf := make([]byte, size)
	n := 0
	for {
		m, err := sub.c.Read(buf[n:])
		if err != nil {
			s.serverClosed(sub)
			return
		}
		n += m
		off, ok := s.frames(sub, buf[:n], monoNow())
		if !ok {
			s.serverClosed(sub)
			return
		}
		n = copy(buf, buf[off:n])
		if n == len(buf) { // one frame larger than the buffer
			buf = append(buf, make([]byte, len(buf))...)
		}
	}
}

func (s *subscribers) serverClosed(sub *subscriber) {
	sub.c.Close()
	if !s.closing.Load() {
		s.closed.Add(1)
	}
}

// frames handles every whole frame in b and returns the bytes used; false
// when the server closed the connection.
func (s *subscribers) frames(sub *subscriber, b []byte, now uint64) (int, bool) {
	off := 0
	for {
		h, p, n := wsframe.Cut(b[off:])
		if n == 0 {
			return off, true
		}
		off += n
		switch h.OpCode {
		case ws.OpText, ws.OpBinary:
			if sub.proto == ProtoCentrifugo {
				s.centrifugoFrame(sub, p, now)
				continue
			}
			if len(p) > 0 && p[0] == '{' {
				sub.reply(p)
				continue
			}
			s.push(sub, p, now)
		case ws.OpClose:
			return off, false
		}
	}
}

// reply hands a setup reply's status to open; replies after setup (none
// are expected) are dropped.
func (sub *subscriber) reply(p []byte) {
	var r struct {
		Status int `json:"status"`
	}
	_ = json.Unmarshal(p, &r)
	sub.ack(r.Status)
}

// ack hands one setup reply's status to open.
func (sub *subscriber) ack(status int) {
	select {
	case sub.acks <- status:
	default:
	}
}

// push counts one push: its latency, whether it reached the right user,
// and whether it came in order within its topic.
func (s *subscribers) push(sub *subscriber, p []byte, now uint64) {
	sent, topic, seq, user, ok := payloadFields(p)
	if ok {
		s.count(sub, sent, topic, seq, user, now)
	}
}

// count records one push's fields as read by a subscriber.
func (s *subscribers) count(sub *subscriber, sent uint64, topic uint16, seq, user uint32, now uint64) {
	if e := s.epoch.Load(); sub.epoch != e {
		sub.epoch = e
		clear(sub.last)
	}
	if now > sent {
		sub.hist.Record((now - sent) / 1000)
	} else {
		sub.hist.Record(0)
	}
	sub.delivered.Add(1)
	if user != 0 && user != sub.user {
		sub.mis.Add(1)
	}
	if int(topic) >= len(sub.last) {
		sub.last = append(sub.last, make([]uint32, int(topic)+1-len(sub.last))...)
	}
	if seq <= sub.last[topic] {
		sub.ooo.Add(1)
	}
	sub.last[topic] = seq
}

// reset zeroes the counters and order state for a new window.
func (s *subscribers) reset() {
	s.epoch.Add(1)
	for i := range s.hists {
		s.hists[i].Reset()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.conns {
		sub.delivered.Store(0)
		sub.ooo.Store(0)
		sub.mis.Store(0)
	}
	s.closed.Store(0)
}

// report sums the subscribers' counters and histograms.
func (s *subscribers) report() Report {
	r := Report{Hist: map[int]uint64{}}
	s.mu.Lock()
	r.Conns = len(s.conns)
	for _, sub := range s.conns {
		r.Delivered += sub.delivered.Load()
		r.OutOfOrder += sub.ooo.Load()
		r.Misdelivered += sub.mis.Load()
	}
	s.mu.Unlock()
	m := Merged(r.Hist)
	for i := range s.hists {
		m.Add(s.hists[i].Counts())
	}
	r.Closed = s.closed.Load()
	return r
}

func (s *subscribers) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.conns {
		sub.c.Close()
	}
}
