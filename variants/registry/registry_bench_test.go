package registry

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/gpush/gpush/core"
)

// Benchmark population: benchConns connections, connection i subscribed to
// public topic i % benchTopics, so every topic has 100 subscribers.
const (
	benchConns  = 10000
	benchTopics = 100
	benchBatch  = 100 // pairs one goroutine takes at a time in subscribe and unsubscribe
)

// BenchmarkRegistry measures each registry under b.RunParallel
// (GOMAXPROCS goroutines) on the population above. Operations:
//
//	subscribe    b.N new subscriptions: 100 connections to each of b.N/100
//	             new topics, so a set grows from 0 to 100 (one goroutine
//	             fills one topic at a time).
//	unsubscribe  the same b.N subscriptions, made before the timer starts,
//	             removed: each set shrinks from 100 to 0.
//	lookup       Each on one of the 100 topics (100 connections visited);
//	             ns/visit is per connection visited.
//	churn        a connection leaves and comes back: Remove with its
//	             subscription, Add, Subscribe. The population stays put.
//	mixed        the read-mostly case: 99 lookups to 1 churn.
func BenchmarkRegistry(b *testing.B) {
	cs := newConns(b, benchConns)
	regs := []struct {
		name string
		make func() core.Registry
	}{
		{"global", func() core.Registry { return NewGlobal() }},
		{"sharded", func() core.Registry { return NewSharded(0) }},
		{"syncmap", func() core.Registry { return NewSyncMap() }},
	}
	ops := []struct {
		name string
		run  func(b *testing.B, r core.Registry, cs []*core.Conn)
	}{
		{"subscribe", benchSubscribe},
		{"unsubscribe", benchUnsubscribe},
		{"lookup", benchLookup},
		{"churn", benchChurn},
		{"mixed", benchMixed},
	}
	for _, rc := range regs {
		for _, op := range ops {
			b.Run("registry="+rc.name+"/op="+op.name, func(b *testing.B) {
				r := rc.make()
				populate(r, cs)
				b.ReportAllocs()
				op.run(b, r, cs)
			})
		}
	}
}

var benchSubs = func() []core.Sub {
	s := make([]core.Sub, benchTopics)
	for i := range s {
		s[i] = core.Sub{Topic: "topic-" + strconv.Itoa(i)}
	}
	return s
}()

func populate(r core.Registry, cs []*core.Conn) {
	for i, c := range cs {
		r.Add(c)
		r.Subscribe(benchSubs[i%benchTopics], c)
	}
}

// newTopics returns enough fresh topics for n subscriptions, 100 each.
func newTopics(n int) []core.Sub {
	s := make([]core.Sub, n/benchBatch+1)
	for i := range s {
		s[i] = core.Sub{Topic: "new-" + strconv.Itoa(i)}
	}
	return s
}

// batches runs fn on pairs (connection, topic) taken benchBatch at a time
// from a shared counter; the i-th pair of batch k is connection i (of a
// block that moves with k) and topic k.
func batches(b *testing.B, cs []*core.Conn, topics []core.Sub, fn func(core.Sub, *core.Conn)) {
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for {
			k := int(next.Add(1) - 1)
			if k >= len(topics) {
				k %= len(topics) // only when b.N outruns the topics prepared
			}
			base := (k * benchBatch) % len(cs)
			for i := range benchBatch {
				if !pb.Next() {
					return
				}
				fn(topics[k], cs[(base+i)%len(cs)])
			}
		}
	})
}

func benchSubscribe(b *testing.B, r core.Registry, cs []*core.Conn) {
	topics := newTopics(b.N)
	b.ResetTimer()
	batches(b, cs, topics, r.Subscribe)
}

func benchUnsubscribe(b *testing.B, r core.Registry, cs []*core.Conn) {
	topics := newTopics(b.N)
	for k, s := range topics {
		base := (k * benchBatch) % len(cs)
		for i := range benchBatch {
			r.Subscribe(s, cs[(base+i)%len(cs)])
		}
	}
	b.ResetTimer()
	batches(b, cs, topics, r.Unsubscribe)
}

// worker hands each RunParallel goroutine its own block of connections, so
// that no two goroutines churn the same connection.
// Its scratch (visit, one) is made once, so that the figures count the
// registry's allocations only.
type worker struct {
	block  []*core.Conn
	first  int // index of block[0] in cs
	k      int
	visits int
	visit  func(*core.Conn)
	one    [1]core.Sub
}

func newWorker(ids *atomic.Int64, cs []*core.Conn) *worker {
	g := int(ids.Add(1)-1) % runtime.GOMAXPROCS(0)
	n := len(cs) / runtime.GOMAXPROCS(0)
	w := &worker{block: cs[g*n : (g+1)*n], first: g * n, k: g * 7919}
	w.visit = func(*core.Conn) { w.visits++ }
	return w
}

func (w *worker) lookup(r core.Registry) {
	w.k++
	r.Each(core.TargetTopic, benchSubs[w.k%benchTopics], w.visit)
}

func (w *worker) churn(r core.Registry) {
	w.k++
	i := w.k % len(w.block)
	c := w.block[i]
	w.one[0] = benchSubs[(w.first+i)%benchTopics]
	r.Remove(c, w.one[:])
	r.Add(c)
	r.Subscribe(w.one[0], c)
}

func benchLookup(b *testing.B, r core.Registry, cs []*core.Conn) {
	var ids, visits atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := newWorker(&ids, cs)
		for pb.Next() {
			w.lookup(r)
		}
		visits.Add(int64(w.visits))
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(1, visits.Load())), "ns/visit")
}

func benchChurn(b *testing.B, r core.Registry, cs []*core.Conn) {
	var ids atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := newWorker(&ids, cs)
		for pb.Next() {
			w.churn(r)
		}
	})
	b.StopTimer()
	if r.Len() != len(cs) {
		b.Fatalf("churn changed the population: Len %d, want %d", r.Len(), len(cs))
	}
}

func benchMixed(b *testing.B, r core.Registry, cs []*core.Conn) {
	var ids atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := newWorker(&ids, cs)
		for i := 0; pb.Next(); i++ {
			if i%100 == 99 {
				w.churn(r)
			} else {
				w.lookup(r)
			}
		}
	})
}
