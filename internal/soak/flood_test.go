//go:build linux

package soak

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
)

// probe checks, until stop closes, every period that the server answers
// /healthz and the push API over HTTP, which pushes to topic "probe" the
// sequence number ok holds; it counts the answers in ok and records every
// failure in e.
func probe(s *st.Server, period time.Duration, stop <-chan struct{}, wg *sync.WaitGroup, ok *atomic.Int64, e *errs) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		hc := &http.Client{Timeout: 30 * time.Second}
		defer hc.CloseIdleConnections()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			resp, err := hc.Get(s.HTTPURL + "/healthz")
			if err != nil {
				e.add("healthz: %v", err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				e.add("healthz: status %d", resp.StatusCode)
				continue
			}
			code, body, err := s.PushHTTP(st.PushJSON("", "probe", payload(ok.Load(), false, 16)), "")
			if err != nil || code != http.StatusOK {
				e.add("push API over HTTP: %d %s %v", code, body, err)
				continue
			}
			ok.Add(1)
		}
	}()
}

// sampleHeap reads the heap after GC every period until stop closes and
// keeps the highest figure in peak (and the most connections in conns, when
// not nil).
func sampleHeap(s *st.Server, period time.Duration, stop <-chan struct{}, wg *sync.WaitGroup, peak *atomic.Uint64, conns *atomic.Int64, e *errs) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(period):
			}
			rep, err := memory(s)
			if err != nil {
				e.add("memory report: %v", err)
				continue
			}
			for p := peak.Load(); rep.HeapBytes > p && !peak.CompareAndSwap(p, rep.HeapBytes); p = peak.Load() {
			}
			if conns != nil && rep.Conns > conns.Load() { // one sampler: no CAS needed
				conns.Store(rep.Conns)
			}
		}
	}()
}

// frameSize is the size of the frame of a push of size bytes.
func frameSize(size int) int {
	return len(core.FormatJSON.Encode(core.Push{Topic: "flood", Data: payload(0, false, size)}))
}

// TestPushFlood: the push API pushes far more than some clients read.
// Clients that stop reading (stalled) and clients that read slowly get close
// 1008 after an in-order prefix of what was pushed; clients that keep up get
// everything in order; the heap after GC stays below a bound set by the
// per-connection queue limit, far below what was pushed; and /healthz and
// the push API answer throughout.
func TestPushFlood(t *testing.T) {
	const (
		maxQueued = 256 << 10
		topics    = 4
		perTopic  = 2000    // pushes per topic, then its end marker
		size      = 4 << 10 // payload bytes: 5.5 KiB frames
		nFast     = 6
		nStalled  = 6
		nSlow     = 3
		// lead is how many pushes a pusher may run ahead of the slowest fast
		// client. What a fast client has yet to receive, (lead+1) frames per
		// topic, stays below max-queued even when its socket buffers take
		// nothing: however late it is scheduled, it is never a slow consumer.
		// Twice that, because a writer that blocks (gorilla's writev of all
		// it peeked) counts a batch as queued until the whole of it is
		// written: the client may have read most of the batch, and the
		// pushers pushed up to lead past it, before the queue learns it.
		lead      = 4
		heapSlack = 16 << 20
	)
	require.Less(t, 2*topics*(lead+1)*frameSize(size), maxQueued, "fast clients are never slow consumers")
	for _, v := range faultVariants {
		t.Run("variant="+v, func(t *testing.T) {
			s := st.Start(t, v, func(c *server.Config) {
				c.Limits.MaxQueued = maxQueued
				c.Limits.WriteTimeout = time.Minute // the 1008 path, not the write timeout
			})
			base := baseline(t, s)
			var all []*client
			open := func(rcvbuf int) *client {
				c, err := dial(s.WSAddr, rcvbuf, 8<<10)
				require.NoError(t, err)
				t.Cleanup(func() { c.nc.Close() })
				all = append(all, c)
				for i := range topics {
					require.NoError(t, c.request(fmt.Sprintf(`{"code":1,"topic":"f%d","id":%d}`, i, i), nil))
				}
				return c
			}
			allEnded := func(tr *seqs) bool {
				for i := range topics {
					if !tr.ended[fmt.Sprintf("f%d", i)] {
						return false
					}
				}
				return true
			}

			var progress [nFast][topics]atomic.Int64 // next push each fast client waits for
			var gone [nFast]atomic.Bool              // its stream ended: nobody waits for it
			fastDone := make(chan error, nFast)
			for f := range nFast {
				c := open(0)
				go func() {
					tr := newSeqs(true)
					code, _, err := drain(c, tr, 5*time.Minute, func() bool {
						for i := range topics {
							progress[f][i].Store(tr.next[fmt.Sprintf("f%d", i)])
						}
						return allEnded(tr)
					})
					gone[f].Store(true)
					if err == nil && !allEnded(tr) {
						err = fmt.Errorf("stream ended (close %d) after %d pushes, before the end markers", code, tr.n)
					}
					fastDone <- err
				}()
			}
			stalled := make([]*client, nStalled)
			for i := range stalled {
				stalled[i] = open(4096)
			}
			type slowResult struct {
				code  int
				ended bool
				n     int64
				err   error
			}
			slowDone := make(chan slowResult, nSlow)
			for range nSlow {
				c := open(4096)
				go func() {
					tr := newSeqs(true)
					code, ended, err := drain(c, tr, 5*time.Minute, func() bool {
						time.Sleep(10 * time.Millisecond) // reads one push every 10 ms
						return false
					})
					slowDone <- slowResult{code, ended, tr.n, err}
				}()
			}

			stop := make(chan struct{})
			var bg sync.WaitGroup
			var probes atomic.Int64
			var peak atomic.Uint64
			var bgErrs, pushErrs errs
			probe(s, 20*time.Millisecond, stop, &bg, &probes, &bgErrs)
			sampleHeap(s, 100*time.Millisecond, stop, &bg, &peak, nil, &bgErrs)

			var pushers sync.WaitGroup
			for i := range topics {
				pushers.Add(1)
				go func() {
					defer pushers.Done()
					topic := fmt.Sprintf("f%d", i)
					for seq := int64(0); seq <= perTopic; seq++ {
						for deadline := time.Now().Add(2 * time.Minute); ; {
							slowest := seq
							for f := range nFast {
								if !gone[f].Load() {
									slowest = min(slowest, progress[f][i].Load())
								}
							}
							if seq-slowest <= lead {
								break
							}
							if time.Now().After(deadline) {
								pushErrs.add("%s: the fast clients stopped at push %d", topic, slowest)
								return
							}
							time.Sleep(200 * time.Microsecond)
						}
						if err := s.PushGRPC("", topic, payload(seq, seq == perTopic, size), ""); err != nil {
							pushErrs.add("%s push %d: %v", topic, seq, err)
							return
						}
					}
				}()
			}
			pushers.Wait()
			pushErrs.check(t, "every push API call answers OK")
			for range nFast {
				assert.NoError(t, <-fastDone, "a fast client receives every push in order")
			}
			close(stop)
			bg.Wait()
			bgErrs.check(t, "/healthz, the push API over HTTP and the memory report answer throughout")
			assert.Positive(t, probes.Load(), "probes answered during the flood")

			pushed := int64(topics * (perTopic + 1))
			for i, c := range stalled {
				tr := newSeqs(true)
				code, ended, err := drain(c, tr, time.Minute, nil)
				require.NoError(t, err, "stalled client %d: an in-order prefix", i)
				assert.Equal(t, core.ClosePolicy, code, "stalled client %d: close 1008 after %d of %d pushes", i, tr.n, pushed)
				assert.True(t, ended, "stalled client %d: socket closed", i)
				assert.Less(t, tr.n, pushed, "stalled client %d got a prefix", i)
			}
			for i := range nSlow {
				r := <-slowDone
				require.NoError(t, r.err, "slow client %d: an in-order prefix", i)
				assert.Equal(t, core.ClosePolicy, r.code, "slow client %d: close 1008 after %d of %d pushes", i, r.n, pushed)
				assert.True(t, r.ended, "slow client %d: socket closed", i)
			}
			assert.Equal(t, int64(nStalled+nSlow), s.Hub().Stats().SlowConsumers.Load(), "slow consumers closed: the stalled and the slow, no fast one")

			conns := uint64(nFast + nStalled + nSlow)
			bound := base.HeapBytes + maxQueued*conns + heapSlack
			frame := uint64(frameSize(size))
			t.Logf("%s: pushed %d frames (%.1f MiB), %d probes answered; peak heap after GC %.1f MiB, bound %.1f MiB (baseline %.1f)",
				v, pushed, mib(uint64(pushed)*frame), probes.Load(), mib(peak.Load()), mib(bound), mib(base.HeapBytes))
			assert.LessOrEqual(t, peak.Load(), bound, "heap after GC bounded by max-queued x connections + %d MiB", heapSlack>>20)

			for _, c := range all {
				c.nc.Close()
			}
			settle(t, s, base, 0, slack{goroutines: 5, heap: 8 << 20}, 30*time.Second)
		})
	}
}
