package conformance

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gpush/gpush/internal/natstest"
	"github.com/gpush/gpush/internal/server"
	st "github.com/gpush/gpush/internal/servertest"
	"github.com/gpush/gpush/variants"
)

// pushCases are the conformance cases that involve a push. Across a
// cluster each runs with its clients on other nodes than the one that takes
// its pushes (st.Across), so every push crosses the broker.
var pushCases = []string{"targets", "isolation", "order", "batch-order", "login", "expiry",
	"bad-requests", "violations", "bad-pushes", "api-key"}

// TestClusterConformance runs every push case on two and three nodes joined
// through a real NATS server.
func TestClusterConformance(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("nodes=%d", n), func(t *testing.T) {
			for _, c := range cases {
				if !slices.Contains(pushCases, c.name) {
					continue
				}
				t.Run(c.name, func(t *testing.T) {
					defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
					nats := natstest.Start(t)
					nodes := startNodes(t, n, nats.URL(), c.tweak)
					c.run(t, st.Across(nodes...))
					stopAll(t, nodes, nats)
				})
			}
		})
	}
}

// startNodes runs n production nodes with the conformance login secret.
func startNodes(t *testing.T, n int, url string, tweak func(*server.Config)) []*st.Server {
	return st.StartNodes(t, n, variants.Default, url, func(cfg *server.Config) {
		cfg.JWTSecret = secret
		if tweak != nil {
			tweak(cfg)
		}
	})
}

// stopAll stops the nodes, then the NATS server, before a leak check.
func stopAll(t *testing.T, nodes []*st.Server, nats *natstest.Server) {
	for _, s := range nodes {
		s.Stop(t)
	}
	nats.Stop()
}

// TestClusterOddNames: topics with dots where NATS puts separators, and user
// ids with '.', '*', '>' and spaces, each reach their own subscribers only,
// across three nodes.
func TestClusterOddNames(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	nats := natstest.Start(t)
	nodes := startNodes(t, 3, nats.URL(), nil)
	topics := []string{".", "..", ".a", "a.", "a..b", "a.b", "a:b", "a/b", "a", "A-_b"}
	uids := []string{"a", "a.b", "a b", "*", ">", "a.*", "a.>", "%2E", "a%b"}
	public := nodes[0].Dial(t)
	for i, topic := range topics {
		ok(t, public.Request(1, topic, "", i), 1)
	}
	users := make([]*st.Client, len(uids))
	for i, uid := range uids {
		users[i] = nodes[1].Dial(t)
		login(t, users[i], uid)
		for j, topic := range topics {
			ok(t, users[i].Request(5, topic, "", j), 5)
		}
	}
	for _, topic := range topics {
		require.NoError(t, nodes[2].PushGRPC("", topic, []byte("public "+topic), ""))
		for _, uid := range uids {
			require.NoError(t, nodes[2].PushGRPC(uid, topic, []byte(uid+" "+topic), ""))
		}
	}
	require.NoError(t, nodes[2].PushGRPC("", "", []byte("marker"), ""))
	for _, topic := range topics {
		m := public.Read()
		assert.Equal(t, 7, m.Code)
		assert.Equal(t, topic, m.Topic)
		assert.Equal(t, "public "+topic, string(m.Data), "the public subscriber gets its topics' pushes, in order, only")
	}
	assert.Equal(t, "marker", string(public.Read().Data), "and no private push")
	for i, uid := range uids {
		for _, topic := range topics {
			m := users[i].Read()
			assert.Equal(t, 8, m.Code)
			assert.Equal(t, topic, m.Topic)
			assert.Equal(t, uid+" "+topic, string(m.Data), "user %q gets its own private pushes only", uid)
		}
		assert.Equal(t, "marker", string(users[i].Read().Data), "user %q gets nothing else", uid)
	}
	stopAll(t, nodes, nats)
}

// TestClusterSubscribeThenPush: a push made on another node right after a
// subscribe reply reaches the subscriber, every time, for channels no
// connection of the node held before.
func TestClusterSubscribeThenPush(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	nats := natstest.Start(t)
	nodes := startNodes(t, 2, nats.URL(), nil)
	clients := make([]*st.Client, 5) // each under the request rate limit
	for i := range clients {
		clients[i] = nodes[0].Dial(t)
		login(t, clients[i], "sam")
	}
	for i := range 200 {
		c := clients[i%len(clients)]
		code, uid := 1, ""
		if i%2 == 1 {
			code, uid = 5, "sam"
		}
		topic := fmt.Sprintf("fresh-%d", i)
		ok(t, c.Request(code, topic, "", i), code)
		require.NoError(t, nodes[1].PushGRPC(uid, topic, []byte(strconv.Itoa(i)), ""))
		require.Equal(t, strconv.Itoa(i), string(c.Read().Data), "push %d right after its subscribe reply", i)
		ok(t, c.Request(code+1, topic, "", i), code+1) // stays under the subscription limit
	}
	stopAll(t, nodes, nats)
}
