package webhooks

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the dispatcher's, registered once per registry.
type Metrics struct {
	attempts *prometheus.CounterVec
	disabled *prometheus.CounterVec
	pending  prometheus.Gauge
	leader   prometheus.Gauge
	oldest   *oldestCollector
}

// oldestShown bounds the endpoints whose oldest pending delivery has a
// series of its own: the ones waiting longest, so that the label set stays
// bounded whatever the number of endpoints.
const oldestShown = 10

// NewMetrics registers the dispatcher's metrics with reg, each outcome and
// reason at zero from the start.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invitesvc_webhook_attempts_total",
			Help: "Webhook delivery attempts, by outcome (delivered, status, gone, timeout, network, refused)."}, []string{"outcome"}),
		disabled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invitesvc_webhook_endpoints_disabled_total",
			Help: "Endpoints the dispatcher disabled, by reason (gone, failing)."}, []string{"reason"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "invitesvc_webhook_pending_deliveries",
			Help: "Deliveries waiting in the outbox (as the dispatching replica last read it)."}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "invitesvc_webhook_dispatcher_leader",
			Help: "1 while this replica holds the dispatcher's lease."}),
		oldest: &oldestCollector{
			age: prometheus.NewDesc("invitesvc_webhook_oldest_pending_seconds",
				"Age of the oldest pending delivery of the endpoints waiting longest (at most 10 series).", []string{"organization_id", "webhook_id"}, nil),
			max: prometheus.NewDesc("invitesvc_webhook_oldest_pending_max_seconds",
				"Age of the oldest pending delivery of any endpoint; 0 when none waits.", nil, nil),
		},
	}
	for _, o := range outcomes {
		m.attempts.WithLabelValues(o)
	}
	m.disabled.WithLabelValues("gone")
	m.disabled.WithLabelValues("failing")
	reg.MustRegister(m.attempts, m.disabled, m.pending, m.leader, m.oldest)
	return m
}

func (m *Metrics) watch(d *Dispatcher) {
	m.oldest.mu.Lock()
	m.oldest.d = d
	m.oldest.mu.Unlock()
}

// oldestCollector reads the workers' queue heads at each scrape.
type oldestCollector struct {
	age, max *prometheus.Desc
	mu       sync.Mutex
	d        *Dispatcher
}

func (c *oldestCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.age; ch <- c.max }

func (c *oldestCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	d := c.d
	c.mu.Unlock()
	var heads []pending
	if d != nil {
		heads = d.oldestPending()
	}
	slices.SortFunc(heads, func(a, b pending) int { return cmp.Compare(a.EnqueuedAt.UnixNano(), b.EnqueuedAt.UnixNano()) })
	oldest := 0.0
	for i, h := range heads {
		age := time.Since(h.EnqueuedAt).Seconds()
		if i == 0 {
			oldest = age
		}
		if i < oldestShown {
			ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age, h.OrganizationID, h.WebhookID)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, oldest)
}
