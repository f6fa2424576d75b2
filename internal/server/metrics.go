package server

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"

	"github.com/gpush/gpush/core"
	"github.com/gpush/gpush/core/wsframe"
)

// metrics exports the hub's counters to Prometheus. Labels are kinds
// (target, close code, API error code), never topics or users.
type metrics struct {
	reg       *prometheus.Registry
	apiErrors *prometheus.CounterVec
	rejected  *prometheus.CounterVec
}

func newMetrics(st *core.Stats) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gpush_push_api_errors_total", Help: "Push API calls refused, by gRPC code.",
		}, []string{"code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gpush_upgrades_rejected_total", Help: "WebSocket upgrades refused, by reason.",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.apiErrors, m.rejected, statsCollector{st},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) pushError(c codes.Code) { m.apiErrors.WithLabelValues(c.String()).Inc() }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// statsCollector reads core.Stats at scrape time: the hot paths only bump
// atomics.
type statsCollector struct{ st *core.Stats }

var (
	descConns    = prometheus.NewDesc("gpush_connections", "Open WebSocket connections.", nil, nil)
	descLoggedIn = prometheus.NewDesc("gpush_logged_in_connections", "Connections logged in as a user.", nil, nil)
	descSubs     = prometheus.NewDesc("gpush_subscriptions", "Public and private subscriptions.", nil, nil)
	descRequests = prometheus.NewDesc("gpush_requests_total", "Client requests decoded.", nil, nil)
	descPushes   = prometheus.NewDesc("gpush_pushes_total", "Pushes accepted, by target kind.", []string{"target"}, nil)
	descDeliv    = prometheus.NewDesc("gpush_deliveries_total", "Push frames queued for a connection.", nil, nil)
	descBytes    = prometheus.NewDesc("gpush_written_bytes_total", "Bytes the sockets accepted.", nil, nil)
	descWrites   = prometheus.NewDesc("gpush_write_syscalls_total", "write and writev calls on client sockets.", nil, nil)
	descFlushes  = prometheus.NewDesc("gpush_flushes_total", "Connections written out by a batched writer (timer or flush-bytes).", nil, nil)
	descSlow     = prometheus.NewDesc("gpush_slow_consumer_closes_total", "Connections closed with 1008 slow consumer.", nil, nil)
	descAuthFail = prometheus.NewDesc("gpush_auth_failures_total", "Logins refused.", nil, nil)
	descCloses   = prometheus.NewDesc("gpush_server_closes_total", "Closes the server initiated, by close code.", []string{"code"}, nil)
	descBatch    = prometheus.NewDesc("gpush_write_batch_frames", "Frames completed per socket write.", nil, nil)
	descLatency  = prometheus.NewDesc("gpush_delivery_latency_seconds", "From a frame's queueing on an idle connection to the write that drains the queue.", nil, nil)
	descRecover  = prometheus.NewDesc("gpush_recoveries_total", "Subscribes with since, by outcome (recovered true or false).", []string{"recovered"}, nil)
	descReplayed = prometheus.NewDesc("gpush_replayed_frames_total", "Kept pushes queued by recoveries.", nil, nil)
	descHChans   = prometheus.NewDesc("gpush_history_channels", "Channels with a sequence (history on).", nil, nil)
	descHPushes  = prometheus.NewDesc("gpush_history_pushes", "Pushes kept for recovery.", nil, nil)
	descHBytes   = prometheus.NewDesc("gpush_history_bytes", "Frame bytes of the pushes kept for recovery.", nil, nil)
	descParked   = prometheus.NewDesc("gpush_partial_frame_parsers", "Parser states parked for connections in the middle of a frame or message (epoll transport).", nil, nil)
	descPartBufs = prometheus.NewDesc("gpush_partial_frame_buffers", "Buffers holding the bytes of partial frames or fragmented messages.", nil, nil)
)

func (statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConns, descLoggedIn, descSubs, descRequests, descPushes, descDeliv,
		descBytes, descWrites, descFlushes, descSlow, descAuthFail, descCloses, descBatch, descLatency,
		descRecover, descReplayed, descHChans, descHPushes, descHBytes, descParked, descPartBufs} {
		ch <- d
	}
}

func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descConns, st.Conns.Load())
	gauge(descLoggedIn, st.LoggedIn.Load())
	gauge(descSubs, st.Subscriptions.Load())
	counter(descRequests, st.Requests.Load())
	for t := core.TargetAll; t <= core.TargetUser; t++ {
		counter(descPushes, st.Pushes[t].Load(), t.String())
	}
	counter(descDeliv, st.Deliveries.Load())
	counter(descBytes, st.BytesWritten.Load())
	counter(descWrites, st.Writes.Load())
	counter(descFlushes, st.Flushes.Load())
	counter(descSlow, st.SlowConsumers.Load())
	counter(descAuthFail, st.AuthFailures.Load())
	counter(descRecover, st.Recoveries[0].Load(), "false")
	counter(descRecover, st.Recoveries[1].Load(), "true")
	counter(descReplayed, st.Replayed.Load())
	gauge(descHChans, st.HistoryChannels.Load())
	gauge(descHPushes, st.HistoryPushes.Load())
	gauge(descHBytes, st.HistoryBytes.Load())
	held := wsframe.Held() // process-wide: the parsers' pools are
	gauge(descParked, held.Parked)
	gauge(descPartBufs, held.Buffers)
	ch <- histogram(descBatch, &st.Batch, core.BatchBounds, 1)
	ch <- histogram(descLatency, &st.Latency, core.LatencyBounds, 1e-9)
	for i, code := range core.CloseCodes {
		label := strconv.Itoa(code)
		if code == 0 {
			label = "other"
		}
		counter(descCloses, st.Closes[i].Load(), label)
	}
}

// histogram exports a core.Histogram; scale turns its units into the
// metric's (ns into seconds).
func histogram(d *prometheus.Desc, h *core.Histogram, bounds []int64, scale float64) prometheus.Metric {
	cum, count, sum := h.Snapshot(bounds)
	buckets := make(map[float64]uint64, len(bounds))
	for i, b := range bounds {
		buckets[float64(b)*scale] = cum[i]
	}
	return prometheus.MustNewConstHistogram(d, count, float64(sum)*scale, buckets)
}
