package registry

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gpush/gpush/core"
)

// registries lists every registry, under the names the benchmarks use.
func registries() []struct {
	name string
	make func() core.Registry
} {
	return []struct {
		name string
		make func() core.Registry
	}{
		{"global", func() core.Registry { return NewGlobal() }},
		{"sharded/shards=1", func() core.Registry { return NewSharded(1) }},
		{"sharded/shards=4", func() core.Registry { return NewSharded(4) }},
		{"sharded/shards=16", func() core.Registry { return NewSharded(16) }},
		{"sharded/shards=default", func() core.Registry { return NewSharded(0) }},
		{"syncmap", func() core.Registry { return NewSyncMap() }},
	}
}

// forEachRegistry runs body against every registry as a subtest.
func forEachRegistry(t *testing.T, body func(t *testing.T, r core.Registry)) {
	for _, rc := range registries() {
		t.Run("registry="+rc.name, func(t *testing.T) { body(t, rc.make()) })
	}
}

// nopRegistry lets a hub mint connections without indexing them: the
// registry under test is driven directly.
type nopRegistry struct{}

func (nopRegistry) Add(*core.Conn)                                   {}
func (nopRegistry) Remove(*core.Conn, []core.Sub)                    {}
func (nopRegistry) Subscribe(core.Sub, *core.Conn)                   {}
func (nopRegistry) Unsubscribe(core.Sub, *core.Conn)                 {}
func (nopRegistry) Each(core.Target, core.Sub, func(*core.Conn)) int { return 0 }
func (nopRegistry) Len() int                                         { return 0 }

type nopLink struct{}

func (nopLink) Kick()  {}
func (nopLink) Abort() {}

type nopPolicy struct{}

func (nopPolicy) Queued(*core.Conn, int) bool { return false }
func (nopPolicy) Coalesce() bool              { return false }

// newConns returns n connections with distinct ids, not yet in any registry.
func newConns(tb testing.TB, n int) []*core.Conn {
	tb.Helper()
	h := core.NewHub(core.Config{Registry: nopRegistry{}, Policy: nopPolicy{}})
	tb.Cleanup(h.Close)
	out := make([]*core.Conn, n)
	for i := range out {
		out[i] = h.Open(nopLink{})
	}
	return out
}

// members returns the ids Each visits, sorted, and checks that its count
// agrees.
func members(t *testing.T, r core.Registry, tg core.Target, s core.Sub) []uint64 {
	t.Helper()
	var ids []uint64
	n := r.Each(tg, s, func(c *core.Conn) { ids = append(ids, c.ID()) })
	assert.Equal(t, len(ids), n, "Each returns the number of connections it visited")
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func ids(cs ...*core.Conn) []uint64 {
	out := make([]uint64, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.ID())
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

var (
	pubNews   = core.Sub{Topic: "news"}
	pubOrders = core.Sub{Topic: "orders"}
	aliceOrd  = core.Sub{UID: "alice", Topic: "orders"}
	bobOrd    = core.Sub{UID: "bob", Topic: "orders"}
)

// target returns the push target that reaches s.
func target(s core.Sub) core.Target {
	return core.Push{UID: s.UID, Topic: s.Topic}.Target()
}

func TestRegistryBehaviour(t *testing.T) {
	type step struct {
		op   string // add, remove, sub, unsub
		conn int
		sub  core.Sub
		subs []core.Sub // for remove
	}
	type want struct {
		sub   core.Sub // zero: the every-connection set
		conns []int
	}
	cases := []struct {
		name  string
		steps []step
		want  []want
		len   int
	}{
		{
			name:  "empty registry reaches nobody",
			steps: nil,
			want:  []want{{core.Sub{}, nil}, {pubNews, nil}, {aliceOrd, nil}},
			len:   0,
		},
		{
			name:  "add puts connections in the every-connection set",
			steps: []step{{op: "add", conn: 0}, {op: "add", conn: 1}, {op: "add", conn: 2}},
			want:  []want{{core.Sub{}, []int{0, 1, 2}}, {pubNews, nil}},
			len:   3,
		},
		{
			name:  "add twice counts once",
			steps: []step{{op: "add", conn: 0}, {op: "add", conn: 0}},
			want:  []want{{core.Sub{}, []int{0}}},
			len:   1,
		},
		{
			name: "subscribe public topic",
			steps: []step{
				{op: "add", conn: 0}, {op: "add", conn: 1}, {op: "add", conn: 2},
				{op: "sub", conn: 0, sub: pubNews}, {op: "sub", conn: 2, sub: pubNews}, {op: "sub", conn: 1, sub: pubOrders},
			},
			want: []want{{pubNews, []int{0, 2}}, {pubOrders, []int{1}}, {core.Sub{}, []int{0, 1, 2}}},
			len:  3,
		},
		{
			name: "subscribe twice is one subscription",
			steps: []step{
				{op: "add", conn: 0}, {op: "sub", conn: 0, sub: pubNews}, {op: "sub", conn: 0, sub: pubNews},
			},
			want: []want{{pubNews, []int{0}}},
			len:  1,
		},
		{
			name: "unsubscribe public topic",
			steps: []step{
				{op: "add", conn: 0}, {op: "add", conn: 1},
				{op: "sub", conn: 0, sub: pubNews}, {op: "sub", conn: 1, sub: pubNews},
				{op: "unsub", conn: 0, sub: pubNews},
			},
			want: []want{{pubNews, []int{1}}, {core.Sub{}, []int{0, 1}}},
			len:  2,
		},
		{
			name: "unsubscribe the last subscriber, then subscribe again",
			steps: []step{
				{op: "add", conn: 0}, {op: "add", conn: 1},
				{op: "sub", conn: 0, sub: pubNews}, {op: "unsub", conn: 0, sub: pubNews},
				{op: "sub", conn: 1, sub: pubNews},
			},
			want: []want{{pubNews, []int{1}}},
			len:  2,
		},
		{
			name: "unsubscribe what is not subscribed changes nothing",
			steps: []step{
				{op: "add", conn: 0}, {op: "add", conn: 1},
				{op: "sub", conn: 0, sub: pubNews},
				{op: "unsub", conn: 1, sub: pubNews}, {op: "unsub", conn: 0, sub: pubOrders}, {op: "unsub", conn: 0, sub: aliceOrd},
			},
			want: []want{{pubNews, []int{0}}, {pubOrders, nil}, {aliceOrd, nil}},
			len:  2,
		},
		{
			name: "private topic of a user",
			steps: []step{
				{op: "add", conn: 0}, {op: "add", conn: 1}, {op: "add", conn: 2},
				{op: "sub", conn: 0, sub: aliceOrd}, {op: "sub", conn: 1, sub: aliceOrd},
			},
			want: []want{{aliceOrd, []int{0, 1}}, {bobOrd, nil}},
			len:  3,
		},
		{
			name: "public and private of the same name are apart",
			steps: []step{
				{op: "add", conn: 0}, {op: "add", conn: 1},
				{op: "sub", conn: 0, sub: pubOrders}, {op: "sub", conn: 1, sub: aliceOrd},
			},
			want: []want{{pubOrders, []int{0}}, {aliceOrd, []int{1}}},
			len:  2,
		},
		{
			name: "users are apart",
			steps: []step{
				{op: "add", conn: 0}, {op: "add", conn: 1}, {op: "add", conn: 2},
				{op: "sub", conn: 0, sub: aliceOrd}, {op: "sub", conn: 1, sub: bobOrd}, {op: "sub", conn: 2, sub: bobOrd},
				{op: "unsub", conn: 1, sub: aliceOrd},
			},
			want: []want{{aliceOrd, []int{0}}, {bobOrd, []int{1, 2}}, {core.Sub{UID: "carol", Topic: "orders"}, nil}},
			len:  3,
		},
		{
			name: "unsubscribe private",
			steps: []step{
				{op: "add", conn: 0}, {op: "add", conn: 1},
				{op: "sub", conn: 0, sub: aliceOrd}, {op: "sub", conn: 1, sub: aliceOrd}, {op: "sub", conn: 1, sub: pubOrders},
				{op: "unsub", conn: 1, sub: aliceOrd},
			},
			want: []want{{aliceOrd, []int{0}}, {pubOrders, []int{1}}},
			len:  2,
		},
		{
			name: "remove drops the connection and its subscriptions",
			steps: []step{
				{op: "add", conn: 0}, {op: "add", conn: 1},
				{op: "sub", conn: 0, sub: pubNews}, {op: "sub", conn: 0, sub: aliceOrd}, {op: "sub", conn: 1, sub: pubNews},
				{op: "remove", conn: 0, subs: []core.Sub{pubNews, aliceOrd}},
			},
			want: []want{{core.Sub{}, []int{1}}, {pubNews, []int{1}}, {aliceOrd, nil}},
			len:  1,
		},
		{
			name: "remove everyone empties the registry",
			steps: []step{
				{op: "add", conn: 0}, {op: "add", conn: 1},
				{op: "sub", conn: 0, sub: pubNews}, {op: "sub", conn: 1, sub: bobOrd},
				{op: "remove", conn: 0, subs: []core.Sub{pubNews}}, {op: "remove", conn: 1, subs: []core.Sub{bobOrd}},
			},
			want: []want{{core.Sub{}, nil}, {pubNews, nil}, {bobOrd, nil}},
			len:  0,
		},
		{
			name:  "remove what is not there changes nothing",
			steps: []step{{op: "add", conn: 0}, {op: "remove", conn: 1, subs: []core.Sub{pubNews}}},
			want:  []want{{core.Sub{}, []int{0}}},
			len:   1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachRegistry(t, func(t *testing.T, r core.Registry) {
				cs := newConns(t, 3)
				for _, st := range tc.steps {
					c := cs[st.conn]
					switch st.op {
					case "add":
						r.Add(c)
					case "remove":
						r.Remove(c, st.subs)
					case "sub":
						r.Subscribe(st.sub, c)
					case "unsub":
						r.Unsubscribe(st.sub, c)
					default:
						require.Failf(t, "bad step", "op %q", st.op)
					}
				}
				for _, w := range tc.want {
					var exp []*core.Conn
					for _, i := range w.conns {
						exp = append(exp, cs[i])
					}
					got := members(t, r, target(w.sub), w.sub)
					assert.Equal(t, nilIfEmpty(ids(exp...)), nilIfEmpty(got), "Each(%v, %+v)", target(w.sub), w.sub)
				}
				assert.Equal(t, tc.len, r.Len(), "Len")
			})
		})
	}
}

func nilIfEmpty(s []uint64) []uint64 {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestRegistryConcurrent runs writers that each own some connections and
// subscribe, unsubscribe, add and remove them at random over a few keys
// (so sets empty and refill often), while readers walk the registry. At the
// end every set holds exactly what the writers' own books say.
func TestRegistryConcurrent(t *testing.T) {
	keys := []core.Sub{pubNews, pubOrders, aliceOrd, bobOrd, {UID: "alice", Topic: "news"}}
	const writers, perWriter, rounds = 8, 6, 2000
	forEachRegistry(t, func(t *testing.T, r core.Registry) {
		cs := newConns(t, writers*perWriter)
		type book struct {
			in   bool
			subs map[core.Sub]bool
		}
		books := make([]book, len(cs))
		for i := range books {
			books[i].subs = make(map[core.Sub]bool)
		}
		stop := make(chan struct{})
		var readers sync.WaitGroup
		for range 2 {
			readers.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					for _, k := range keys {
						r.Each(target(k), k, func(c *core.Conn) {
							if c == nil {
								t.Error("Each visited a nil connection")
							}
						})
					}
					r.Each(core.TargetAll, core.Sub{}, func(*core.Conn) {})
					_ = r.Len()
					runtime.Gosched()
				}
			})
		}
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for range rounds {
					i := w*perWriter + rng.IntN(perWriter)
					c, b := cs[i], &books[i]
					k := keys[rng.IntN(len(keys))]
					switch op := rng.IntN(10); {
					case op == 0 && b.in:
						subs := make([]core.Sub, 0, len(b.subs))
						for s := range b.subs {
							subs = append(subs, s)
						}
						r.Remove(c, subs)
						b.in, b.subs = false, make(map[core.Sub]bool)
					case !b.in:
						r.Add(c)
						b.in = true
					case op < 6:
						r.Subscribe(k, c)
						b.subs[k] = true
					default:
						r.Unsubscribe(k, c)
						delete(b.subs, k)
					}
				}
			})
		}
		wg.Wait()
		close(stop)
		readers.Wait()

		var in []*core.Conn
		want := make(map[core.Sub][]*core.Conn)
		for i, b := range books {
			if b.in {
				in = append(in, cs[i])
			}
			for s := range b.subs {
				want[s] = append(want[s], cs[i])
			}
		}
		assert.Equal(t, len(in), r.Len(), "Len after the writers are done")
		assert.Equal(t, nilIfEmpty(ids(in...)), nilIfEmpty(members(t, r, core.TargetAll, core.Sub{})), "every-connection set")
		for _, k := range keys {
			assert.Equal(t, nilIfEmpty(ids(want[k]...)), nilIfEmpty(members(t, r, target(k), k)), "subscribers of %+v", k)
		}
	})
}

// TestRegistryHotKey has many goroutines subscribe and unsubscribe one key
// at once, so that the set empties and refills under contention: no
// subscription may be lost on the way.
func TestRegistryHotKey(t *testing.T) {
	const goroutines, rounds = 16, 500
	forEachRegistry(t, func(t *testing.T, r core.Registry) {
		cs := newConns(t, goroutines)
		var wg sync.WaitGroup
		for i, c := range cs {
			wg.Go(func() {
				for range rounds {
					r.Subscribe(pubNews, c)
					r.Unsubscribe(pubNews, c)
				}
				if i%2 == 0 {
					r.Subscribe(pubNews, c) // the even ones stay
				}
			})
		}
		wg.Wait()
		var even []*core.Conn
		for i := 0; i < len(cs); i += 2 {
			even = append(even, cs[i])
		}
		assert.Equal(t, ids(even...), members(t, r, core.TargetTopic, pubNews), "the connections that stayed subscribed")
	})
}

func TestSyncMapDropsEmptySets(t *testing.T) {
	m := NewSyncMap()
	cs := newConns(t, 2)
	for i := range 100 {
		s := core.Sub{Topic: fmt.Sprintf("t%d", i)}
		m.Subscribe(s, cs[0])
		m.Subscribe(s, cs[1])
		m.Unsubscribe(s, cs[0])
		m.Unsubscribe(s, cs[1])
	}
	n := 0
	m.subs.Range(func(any, any) bool { n++; return true })
	assert.Zero(t, n, "a set whose last subscriber left is dropped from the map")
}

// TestSyncMapSubscribeOnDeadSnapshot (issue 11): a subscribe that finds the
// set of its topic emptied by an unsubscribe whose remover has not yet
// dropped it from the map (preempted between the two) does not spin until
// the remover runs: it replaces the dead set and returns subscribed.
func TestSyncMapSubscribeOnDeadSnapshot(t *testing.T) {
	m := NewSyncMap()
	cs := newConns(t, 2)
	m.Subscribe(pubNews, cs[0])
	v, ok := m.subs.Load(pubNews)
	require.True(t, ok)
	require.True(t, v.(*snapshot).remove(cs[0]), "precondition: the set is dead, still in the map")
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Subscribe(pubNews, cs[1])
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		require.FailNow(t, "Subscribe spins on a dead set until its remover runs")
	}
	assert.Equal(t, ids(cs[1]), members(t, m, core.TargetTopic, pubNews), "subscribed")
	m.subs.CompareAndDelete(pubNews, v) // the remover, late: it drops only its own dead set
	assert.Equal(t, ids(cs[1]), members(t, m, core.TargetTopic, pubNews), "still subscribed after the late remover")
}
