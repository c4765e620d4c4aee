package httpapi

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// withMetricsRoute serves the harness's registry at /metrics, as the
// service does, so that the tests read what a scraper reads.
func withMetricsRoute(d *Deps) {
	d.Extra = map[string]http.Handler{"/metrics": promhttp.HandlerFor(d.Metrics.(prometheus.Gatherer), promhttp.HandlerOpts{})}
}

// scrape reads /metrics through the handler and parses it as Prometheus
// text, keeping the HTTP families.
func (h *harness) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	rec := h.serve(http.MethodGet, "/metrics", "", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics answered %d", rec.Code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	for name := range families {
		if !strings.HasPrefix(name, "invitesvc_http_") {
			delete(families, name)
		}
	}
	return families
}

// seriesCount counts the label sets of the families.
func seriesCount(families map[string]*dto.MetricFamily) int {
	n := 0
	for _, f := range families {
		n += len(f.GetMetric())
	}
	return n
}

// requests is the count of invitesvc_http_requests_total{route, method,
// status_class}, and whether that series is exported at all.
func requests(families map[string]*dto.MetricFamily, route, method, class string) (float64, bool) {
	for _, m := range families["invitesvc_http_requests_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["route"] == route && labels["method"] == method && labels["status_class"] == class {
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

const (
	methodChars = "!#$%&'*+-.^_`|~" + pathChars
	pathChars   = "-_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// random is n random characters of chars.
func random(chars string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b)
}

// TestMetricSeriesAreBounded sends thousands of distinct methods and
// unknown paths: the series on /metrics stay a small fixed set, and each
// family is there with zero values before the first request.
func TestMetricSeriesAreBounded(t *testing.T) {
	h := newHarness(t, withMetricsRoute)
	before := h.scrape(t)
	for _, name := range []string{"invitesvc_http_requests_total", "invitesvc_http_request_duration_seconds"} {
		f := before[name]
		if len(f.GetMetric()) == 0 {
			t.Fatalf("%s is not exported before the first request", name)
		}
		for _, m := range f.GetMetric() {
			if m.GetCounter().GetValue() != 0 || m.GetHistogram().GetSampleCount() != 0 {
				t.Fatalf("%s starts at %v", name, m)
			}
		}
	}
	for _, want := range [][3]string{
		{"/api/v1/organizations/invitations/{invitation_token}", http.MethodGet, "4xx"},
		{"/api/v1/organizations/{organization_id}/invitations", http.MethodPost, "5xx"},
		{"/metrics", http.MethodGet, "2xx"},
		{"unmatched", http.MethodGet, "4xx"},
		{"unmatched", "other", "4xx"},
	} {
		if _, ok := requests(before, want[0], want[1], want[2]); !ok {
			t.Errorf("no series %v before the first request", want)
		}
	}
	flood := func(n int) {
		for range n {
			h.serve(random(methodChars, 50), orgPath, "", "")
			h.serve(random(methodChars, 50), "/"+random(pathChars, 50), "", "")
			h.serve(http.MethodGet, "/api/v1/"+random(pathChars, 50), "", "")
			h.serve(http.MethodGet, "/api/v1/organizations/invitations/"+random(pathChars, 43), "", "")
		}
	}
	flood(1000)
	first := h.scrape(t)
	flood(1000)
	second := h.scrape(t)
	// The first flood may add the series of a method no route serves (405),
	// one a family and route; the second, with other values, adds none.
	if n, m := seriesCount(first)-seriesCount(before), seriesCount(second)-seriesCount(first); n > 4 || m != 0 {
		t.Fatalf("series: %d before, %d after 4,000 requests of distinct methods and paths, %d after 4,000 more",
			seriesCount(before), seriesCount(first), seriesCount(second))
	}
	if got, _ := requests(second, "unmatched", "other", "4xx"); got != 2000 {
		t.Errorf("unmatched requests of other methods counted %v, want 2000", got)
	}
}

// TestEveryRequestIsCounted: a path outside /api/v1, one under it that no
// route matches, a method the route does not serve and a handler that
// panics are all counted, by what they reached.
func TestEveryRequestIsCounted(t *testing.T) {
	h := newHarness(t, withMetricsRoute)
	h.serve(http.MethodGet, "/nowhere", "", "")
	h.serve(http.MethodGet, "/api/v1/nowhere", "", "")
	h.serve(http.MethodPatch, orgPath, "", "")
	h.serve(http.MethodGet, "/metrics", "", "")
	h.commands.panic = "boom"
	h.serve(http.MethodPut, orgPath, bearer(t, "org.admin"), `{"name":"Acme"}`)
	got := h.scrape(t)
	for _, want := range []struct {
		route, method, class string
		n                    float64
	}{
		{"unmatched", http.MethodGet, "4xx", 2},
		{"/api/v1/organizations/{organization_id}", http.MethodPatch, "4xx", 1},
		{"/metrics", http.MethodGet, "2xx", 1},
		{"/api/v1/organizations/{organization_id}", http.MethodPut, "5xx", 1},
	} {
		if n, _ := requests(got, want.route, want.method, want.class); n != want.n {
			t.Errorf("%s %s %s counted %v, want %v", want.method, want.route, want.class, n, want.n)
		}
	}
}
