package service

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// failingCollector is a collector whose Collect fails, as one reading a
// broken source would.
type failingCollector struct{ desc *prometheus.Desc }

func (c failingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c failingCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(c.desc, errors.New("source gone"))
}

// A collector that fails leaves its family out of the scrape, which still
// answers 200 with every other family, and is logged.
func TestMetricsScrapeSurvivesAFailingCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	ok := prometheus.NewCounter(prometheus.CounterOpts{Name: "invitesvc_test_ok_total", Help: "a family that works"})
	reg.MustRegister(ok, failingCollector{prometheus.NewDesc("invitesvc_test_broken", "a family that fails", nil, nil)})
	var logged bytes.Buffer
	rec := httptest.NewRecorder()
	metricsHandler(reg, slog.New(slog.NewTextHandler(&logged, nil))).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "invitesvc_test_ok_total 0") {
		t.Fatalf("status %d, body:\n%s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logged.String(), "source gone") {
		t.Fatalf("the failure was not logged: %q", logged.String())
	}
}
