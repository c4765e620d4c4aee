package service

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The commands and their outcomes (commands.Observer's vocabulary), whose
// series are exported at zero from the start: a series born at 1 hides its
// first event from rate and increase, and an alert on one that does not
// exist yet has no data.
var (
	commandNames = []string{"register_organization", "create_invitations", "accept_invitation", "cancel_invitation",
		"resend_invitation", "remove_member", "expire_invitation", "record_delivery",
		"create_webhook", "update_webhook", "rotate_webhook_secret", "delete_webhook", "disable_webhook"}
	commandOutcomes = []string{"written", "unchanged", "refused", "conflict", "unavailable", "error"}
)

// commandMetrics counts commands by outcome and the retries of lost races.
type commandMetrics struct {
	done    *prometheus.CounterVec
	retries *prometheus.CounterVec
}

func (m commandMetrics) CommandDone(command, outcome string, attempts int) {
	m.done.WithLabelValues(command, outcome).Inc()
	if attempts > 1 {
		m.retries.WithLabelValues(command).Add(float64(attempts - 1))
	}
}

// batchMetrics is the histogram of appends (commands) per atomic batch the
// event store commits: how much group commit gathers.
type batchMetrics struct{ appends prometheus.Histogram }

func newBatchMetrics() batchMetrics {
	return batchMetrics{appends: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "invitesvc_eventstore_batch_appends",
		Help:    "Appends (commands) per atomic batch committed to JetStream: group commit sends those that arrive while a batch is in flight together.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000}})}
}

func (m batchMetrics) BatchCommitted(appends int) { m.appends.Observe(float64(appends)) }

// registerMetrics makes the registry /metrics serves: the Go runtime, the
// process, commands, the event store's batches, and the projection's
// position, lag and redeliveries.
func (s *Service) registerMetrics() (*prometheus.Registry, commandMetrics) {
	reg := prometheus.NewRegistry()
	cm := commandMetrics{
		done: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invitesvc_commands_total",
			Help: "Commands by outcome: written, unchanged, refused, conflict (gave up), unavailable, error."}, []string{"command", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "invitesvc_command_retries_total",
			Help: "Attempts repeated after losing an optimistic-concurrency race."}, []string{"command"}),
	}
	for _, command := range commandNames {
		cm.retries.WithLabelValues(command)
		for _, outcome := range commandOutcomes {
			cm.done.WithLabelValues(command, outcome)
		}
	}
	checkpoint := func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		cp, err := s.store.Checkpoint(ctx)
		if err != nil {
			return -1
		}
		return float64(cp)
	}
	projection := prometheus.Labels{"projection": "read-models"}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		cm.done, cm.retries, s.batches.appends, s.mails.sent, s.mails.failed, s.mails.retried, s.mails.lag,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "invitesvc_projection_checkpoint", ConstLabels: projection,
			Help: "Stream sequence of the last event in the read store (-1 when it cannot be read)."}, checkpoint),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "invitesvc_projection_lag_events", ConstLabels: projection,
			Help: "Events in the stream not yet in the read store (-1 when unknown)."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			last, err := s.events.LastSequence(ctx)
			cp := checkpoint()
			if err != nil || cp < 0 {
				return -1
			}
			return max(0, float64(last)-cp)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "invitesvc_projection_redeliveries_total", ConstLabels: projection,
			Help: "Events delivered to this process more than once."}, func() float64 { return float64(s.projections.Redeliveries()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "invitesvc_projection_refeeds_total", ConstLabels: projection,
			Help: "Times the read store was fed again from its checkpoint (after an error or a loss of data)."}, func() float64 { return float64(s.projections.Refeeds()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "invitesvc_stream_guard_tripped",
			Help: "1 while stream INVITATIONS has settings that can lose events or has lost some, and commands are refused; else 0."}, s.guard.tripped),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "invitesvc_projection_unverified_events_total", ConstLabels: projection,
			Help: "Events whose signature does not verify, not applied (the projection halts at the first)."}, func() float64 { return float64(s.projections.Unverified()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "invitesvc_projection_halted_sequence", ConstLabels: projection,
			Help: "Stream sequence of the unverified event the projection halted at (0 when running)."}, func() float64 { return float64(s.projections.HaltedSequence()) }),
	)
	return reg, cm
}

// metricsHandler serves /metrics. A collector that fails is logged and left
// out: the scrape still answers 200 with the rest, never a plain-text 500.
func metricsHandler(g prometheus.Gatherer, logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, ErrorLog: metricsErrorLog{logger}})
}

type metricsErrorLog struct{ logger *slog.Logger }

func (l metricsErrorLog) Println(v ...any) { l.logger.Warn("metrics: " + fmt.Sprint(v...)) }
