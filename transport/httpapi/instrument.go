package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/prometheus/client_golang/prometheus"
)

var tracer = otel.Tracer("github.com/invitesvc/invitesvc/transport/httpapi")

// The label values of the HTTP metrics come from closed sets, whatever a
// client sends: a method outside knownMethods is "other", a path that no
// route matches is routeUnmatched, and a status is counted by its class.
var (
	knownMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace}
	statusClasses = []string{"2xx", "3xx", "4xx", "5xx"}
)

const (
	methodOther    = "other"
	routeUnmatched = "unmatched"
)

func methodLabel(method string) string {
	for _, m := range knownMethods {
		if method == m {
			return m
		}
	}
	return methodOther
}

// statusClass is "2xx" for 200 to 299 and so on (net/http writes no status
// outside 100 to 999).
func statusClass(status int) string { return strconv.Itoa(status/100) + "xx" }

// metrics counts requests by route template (never the raw path, which may
// hold a token), method and status class, with their latency.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitesvc_http_requests_total", Help: `HTTP requests by route template ("unmatched" when none), method ("other" when not a standard one) and status class.`,
		}, []string{"route", "method", "status_class"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "invitesvc_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency)
	m.serves(routeUnmatched, append(slices.Clone(knownMethods), methodOther)...)
	return m
}

// serves exports route's series for each of methods at zero, so that they
// exist before the first request (a series born at 1 hides that request
// from rate and increase).
func (m *metrics) serves(route string, methods ...string) {
	for _, method := range methods {
		m.latency.WithLabelValues(route, method)
		for _, class := range statusClasses {
			m.requests.WithLabelValues(route, method, class)
		}
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the writers below (Flush).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// matchedRoute is where noteRoute leaves the route template for
// instrument, which wraps the router and so cannot ask mux itself.
type matchedRoute struct{ template string }

type matchedRouteKey struct{}

// noteRoute is the router's middleware that tells instrument the route
// matched; a request it never sees (no route matched) stays unmatched.
func noteRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m, ok := r.Context().Value(matchedRouteKey{}).(*matchedRoute); ok {
			m.template = routeOf(r)
		}
		next.ServeHTTP(w, r)
	})
}

// instrument counts, times, traces and logs every request that reaches the
// router, matched or not, panics included (recoverPanics runs inside it).
func (s *server) instrument(m *metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			method := methodLabel(r.Method)
			matched := &matchedRoute{template: routeUnmatched}
			ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			ctx, span := tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(attribute.String("http.request.method", method)))
			defer span.End()
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(rec, r.WithContext(context.WithValue(ctx, matchedRouteKey{}, matched)))
			route := matched.template
			span.SetName(method + " " + route)
			span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", rec.status))
			if rec.status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(rec.status))
			}
			took := time.Since(start)
			m.requests.WithLabelValues(route, method, statusClass(rec.status)).Inc()
			m.latency.WithLabelValues(route, method).Observe(took.Seconds())
			s.Logger.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("request_id", requestID(r.Context())),
				slog.String("method", r.Method), slog.String("route", route), slog.Int("status", rec.status),
				slog.Duration("took", took))
		})
	}
}
