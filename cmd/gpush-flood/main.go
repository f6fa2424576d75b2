// Command gpush-flood measures what a request flood costs a running gpush
// server (issue 11 item 2): the server's write calls for one flood of N
// pings (or subscribes) sent in one TCP write, from /proc/<pid>/io syscw
// less an idle baseline of the same length, and the ping round trip of
// well-behaved clients with and without a sustained flood beside them.
//
//	gpushd -pprof-addr '' &
//	gpush-flood -pid $! -n 5000 -kind control -probes 4 -for 5s
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/gpush/gpush/core/wsframe/wsclient"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8989", "server WebSocket address")
	pid := flag.Int("pid", 0, "server process id, for /proc/<pid>/io")
	n := flag.Int("n", 5000, "requests per flood, sent in one TCP write")
	kind := flag.String("kind", "control", "control (ping frames), text (\"ping\") or subscribe")
	probes := flag.Int("probes", 4, "well-behaved clients pinging every -every")
	every := flag.Duration("every", 10*time.Millisecond, "a probe's ping interval")
	dur := flag.Duration("for", 5*time.Second, "how long each latency phase lasts")
	flag.Parse()
	if err := run(*addr, *pid, *n, *kind, *probes, *every, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "gpush-flood:", err)
		os.Exit(1)
	}
}

func run(addr string, pid, n int, kind string, probes int, every, dur time.Duration) error {
	flood := floodBytes(kind, n)
	idle, err := syscwOver(pid, time.Second, func() error { time.Sleep(time.Second); return nil })
	if err != nil {
		return err
	}
	var frames int
	w, err := syscwOver(pid, time.Second, func() error {
		var err error
		frames, err = floodOnce(addr, flood)
		time.Sleep(time.Second - time.Millisecond) // the same length as the idle baseline
		return err
	})
	if err != nil {
		return err
	}
	fmt.Printf("one flood of %d %s requests in one write: %d frames back, server writes %d (syscw %d, idle baseline %d)\n",
		n, kind, frames, w-idle, w, idle)
	for _, withFlood := range []bool{false, true} {
		rtts, floods, err := latency(addr, flood, probes, every, dur, withFlood)
		if err != nil {
			return err
		}
		fmt.Printf("probes=%d flood=%v floods=%d pings=%d rtt p50=%v p99=%v max=%v\n", probes, withFlood, floods,
			len(rtts), pct(rtts, 50), pct(rtts, 99), pct(rtts, 100))
	}
	return nil
}

// floodBytes is n requests of the kind, as one write.
func floodBytes(kind string, n int) []byte {
	var b bytes.Buffer
	for i := range n {
		switch kind {
		case "text":
			b.Write(wsclient.Text("ping"))
		case "subscribe":
			b.Write(wsclient.Text(fmt.Sprintf(`{"code":1,"topic":"t%d","id":%d}`, i%200, i)))
		default:
			b.Write(wsclient.Frame(ws.OpPing, []byte(strconv.Itoa(i))))
		}
	}
	return b.Bytes()
}

// floodOnce sends the flood on a new connection and reads until the
// server closes it; it returns the frames it got.
func floodOnce(addr string, flood []byte) (int, error) {
	c, err := wsclient.Dial(addr, wsclient.Config{Timeout: 5 * time.Second})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := c.Write(flood); err != nil {
		return 0, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	frames := 0
	for {
		h, _, err := c.Next()
		if err != nil || h.OpCode == ws.OpClose {
			return frames, nil
		}
		frames++
	}
}

// floodUntilClosed floods one connection again and again, reading and
// dropping what comes back, until the server closes it or stop.
func floodUntilClosed(addr string, flood []byte, stop <-chan struct{}, floods *atomic.Int64) {
	c, err := wsclient.Dial(addr, wsclient.Config{Timeout: 5 * time.Second})
	if err != nil {
		return
	}
	defer c.Close()
	go func() {
		for {
			if _, _, err := c.Next(); err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-stop:
			return
		default:
		}
		c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(flood); err != nil {
			return
		}
		floods.Add(1)
	}
}

// syscwOver returns the growth of the server's syscw while f runs.
func syscwOver(pid int, _ time.Duration, f func() error) (int64, error) {
	a, err := syscw(pid)
	if err != nil {
		return 0, err
	}
	if err := f(); err != nil {
		return 0, err
	}
	b, err := syscw(pid)
	return b - a, err
}

func syscw(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no syscw in /proc/%d/io", pid)
}

// latency runs the probes for dur, with a flooder beside them that floods
// one connection without pause and a new one as soon as the server closed
// the last, and returns the probes' round trips and the floods sent.
func latency(addr string, flood []byte, probes int, every, dur time.Duration, withFlood bool) ([]time.Duration, int64, error) {
	stop := make(chan struct{})
	var floods atomic.Int64
	var wg sync.WaitGroup
	if withFlood {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				floodUntilClosed(addr, flood, stop, &floods)
			}
		})
	}
	var mu sync.Mutex
	var all []time.Duration
	errs := make(chan error, probes)
	for range probes {
		wg.Go(func() {
			rtts, err := probe(addr, every, stop)
			if err != nil {
				errs <- err
			}
			mu.Lock()
			all = append(all, rtts...)
			mu.Unlock()
		})
	}
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, 0, err
	default:
	}
	return all, floods.Load(), nil
}

// probe sends a text ping every interval and times each pong (at most 50 a
// second: within the rate limit).
func probe(addr string, every time.Duration, stop <-chan struct{}) ([]time.Duration, error) {
	c, err := wsclient.Dial(addr, wsclient.Config{Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ping := wsclient.Text("ping")
	var rtts []time.Duration
	t := time.NewTicker(max(every, 20*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return rtts, nil
		case <-t.C:
		}
		start := time.Now()
		if _, err := c.Write(ping); err != nil {
			return rtts, err
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := c.Next(); err != nil {
			return rtts, err
		}
		rtts = append(rtts, time.Since(start))
	}
}

// pct returns the p-th percentile of d (100: the maximum).
func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
