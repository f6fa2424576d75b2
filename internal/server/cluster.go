package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gpush/gpush/cluster"
	"github.com/gpush/gpush/core"
)

// newBroker makes the NATS broker when -broker is set; nil otherwise (a
// single node).
func newBroker(cfg Config) (*cluster.Broker, error) {
	if cfg.Broker == "" {
		return nil, nil
	}
	return cluster.New(cluster.Config{
		URLs:       cluster.ParseURLs(cfg.Broker),
		NodeID:     cfg.NodeID,
		Prefix:     cfg.BrokerPrefix,
		UnsubDelay: cfg.BrokerUnsubDelay,
		Logger:     cfg.Logger,
	})
}

// coreBroker is b as the hub's core.Broker: nil (no broker) when b is nil.
func coreBroker(b *cluster.Broker) core.Broker {
	if b == nil {
		return nil
	}
	return b
}

// nodeOf is the node id epochs carry: a clustered node's, else none.
func nodeOf(b *cluster.Broker) string {
	if b == nil {
		return ""
	}
	return b.NodeID()
}

// brokerDown reports whether the node is clustered and its broker link is
// down: /readyz and upgrades answer 503.
func (s *Server) brokerDown() bool { return s.broker != nil && !s.broker.Up() }

// logCluster logs the node id and broker of a clustered node.
func (s *Server) logCluster() {
	if s.broker != nil {
		s.cfg.Logger.Info("gpushd clustered", "node", s.broker.NodeID(), "broker", s.cfg.Broker, "ready", !s.brokerDown())
	}
}

// Broker returns the NATS broker, nil for a single node.
func (s *Server) Broker() *cluster.Broker { return s.broker }

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	switch {
	case !s.ready.Load():
		http.Error(w, "draining", http.StatusServiceUnavailable)
	case s.brokerDown():
		http.Error(w, "broker unavailable", http.StatusServiceUnavailable)
	default:
		w.Write([]byte("ready\n"))
	}
}

// brokerCollector exports the broker's counters at scrape time.
type brokerCollector struct{ st *cluster.Stats }

var (
	descBrokerUp      = prometheus.NewDesc("gpush_broker_up", "1 while the broker link is in force (pushes and subscribes accepted), else 0.", nil, nil)
	descBrokerLosses  = prometheus.NewDesc("gpush_broker_link_losses_total", "Broker links lost: closed, silent, dropping pushes, or not confirming.", nil, nil)
	descBrokerReconn  = prometheus.NewDesc("gpush_broker_reconnects_total", "Broker links restored after a loss (each followed by a resync notice to every connection).", nil, nil)
	descBrokerDials   = prometheus.NewDesc("gpush_broker_dial_failures_total", "Broker connection attempts that failed.", nil, nil)
	descBrokerSubj    = prometheus.NewDesc("gpush_broker_subjects", "Subjects subscribed at the broker now, push-to-all included.", nil, nil)
	descBrokerSubs    = prometheus.NewDesc("gpush_broker_subscribes_total", "Subscriptions sent to the broker: a subject's first local interest, and every subject again on a restored link.", nil, nil)
	descBrokerPub     = prometheus.NewDesc("gpush_broker_published_total", "Pushes the broker confirmed.", nil, nil)
	descBrokerRefused = prometheus.NewDesc("gpush_broker_pushes_refused_total", "Pushes answered 503: reason down (link down) or unconfirmed.", []string{"reason"}, nil)
	descBrokerSubRef  = prometheus.NewDesc("gpush_broker_subscribes_refused_total", "Subscribes answered 503 because the broker link was down or did not confirm.", nil, nil)
	descBrokerRecv    = prometheus.NewDesc("gpush_broker_received_total", "Pushes received from the broker and delivered locally.", nil, nil)
	descBrokerDrops   = prometheus.NewDesc("gpush_broker_slow_drops_total", "Times the receive queue was full and pushes were dropped (each a link loss).", nil, nil)
	descBrokerDisc    = prometheus.NewDesc("gpush_broker_discarded_total", "Pushes received after a drop on the same link, not delivered (the resync notice covers them).", nil, nil)
	descBrokerUnsub   = prometheus.NewDesc("gpush_broker_unsubscribe_failures_total", "Unsubscribes that failed and were retried.", nil, nil)
)

func (brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBrokerUp, descBrokerLosses, descBrokerReconn, descBrokerDials, descBrokerSubj, descBrokerSubs,
		descBrokerPub, descBrokerRefused, descBrokerSubRef, descBrokerRecv, descBrokerDrops, descBrokerDisc, descBrokerUnsub} {
		ch <- d
	}
}

func (c brokerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st
	metric := func(d *prometheus.Desc, t prometheus.ValueType, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, float64(v), labels...)
	}
	up := int64(0)
	if st.Up.Load() {
		up = 1
	}
	metric(descBrokerUp, prometheus.GaugeValue, up)
	metric(descBrokerSubj, prometheus.GaugeValue, st.Subjects.Load())
	metric(descBrokerSubs, prometheus.CounterValue, st.Subscribes.Load())
	metric(descBrokerLosses, prometheus.CounterValue, st.Losses.Load())
	metric(descBrokerReconn, prometheus.CounterValue, st.Reconnects.Load())
	metric(descBrokerDials, prometheus.CounterValue, st.Dials.Load())
	metric(descBrokerPub, prometheus.CounterValue, st.Published.Load())
	metric(descBrokerRefused, prometheus.CounterValue, st.Refused.Load(), "down")
	metric(descBrokerRefused, prometheus.CounterValue, st.Unconfirmed.Load(), "unconfirmed")
	metric(descBrokerSubRef, prometheus.CounterValue, st.SubRefused.Load())
	metric(descBrokerRecv, prometheus.CounterValue, st.Received.Load())
	metric(descBrokerDrops, prometheus.CounterValue, st.SlowDrops.Load())
	metric(descBrokerDisc, prometheus.CounterValue, st.Discarded.Load())
	metric(descBrokerUnsub, prometheus.CounterValue, st.UnsubFailed.Load())
}
