package service_test

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	prommodel "github.com/prometheus/common/model"
)

// scrape parses /metrics as Prometheus text.
func (s *stack) scrape() map[string]*dto.MetricFamily {
	s.t.Helper()
	status, body := s.get("/metrics")
	if status != http.StatusOK {
		s.t.Fatalf("/metrics answered %d", status)
	}
	parser := expfmt.NewTextParser(prommodel.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		s.t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	return families
}

// sample is the value of family's series with labels (name, value pairs),
// and whether it is exported.
func sample(families map[string]*dto.MetricFamily, family string, labels ...string) (float64, bool) {
	for _, m := range families[family].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		matches := true
		for i := 0; i+1 < len(labels); i += 2 {
			matches = matches && have[labels[i]] == labels[i+1]
		}
		if matches {
			return m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsExportedFromStart scrapes /metrics before any request: every
// family is there, the command counters with a zero series for each command
// and outcome (invitesvc_command_retries_total did not exist until the
// first retry). A flow running the commands then adds no command series:
// their names and outcomes are the ones exported from the start.
func TestMetricsExportedFromStart(t *testing.T) {
	s := startStack(t, "")
	before := s.scrape()
	for _, name := range []string{
		"invitesvc_http_requests_total", "invitesvc_http_request_duration_seconds",
		"invitesvc_commands_total", "invitesvc_command_retries_total",
		"invitesvc_projection_checkpoint", "invitesvc_projection_lag_events", "invitesvc_projection_redeliveries_total",
		"invitesvc_projection_refeeds_total", "invitesvc_projection_unverified_events_total",
		"invitesvc_projection_halted_sequence", "invitesvc_stream_guard_tripped",
		"invitesvc_emails_sent_total", "invitesvc_emails_failed_total", "invitesvc_email_retries_total", "invitesvc_email_delivery_lag_seconds",
	} {
		if len(before[name].GetMetric()) == 0 {
			t.Errorf("%s is not exported before the first request", name)
		}
	}
	for _, want := range [][]string{
		{"invitesvc_command_retries_total", "command", "resend_invitation"},
		{"invitesvc_command_retries_total", "command", "expire_invitation"},
		{"invitesvc_commands_total", "command", "accept_invitation", "outcome", "conflict"},
		{"invitesvc_commands_total", "command", "create_invitations", "outcome", "unavailable"},
		{"invitesvc_http_requests_total", "route", "unmatched", "method", "GET", "status_class", "4xx"},
		{"invitesvc_http_requests_total", "route", "/api/v1/organizations/{organization_id}/invitations", "method", "POST", "status_class", "5xx"},
		{"invitesvc_http_requests_total", "route", "/readyz", "method", "GET", "status_class", "5xx"},
	} {
		if v, ok := sample(before, want[0], want[1:]...); !ok || v != 0 {
			t.Errorf("%v: %v, exported %v; want 0 before the first request", want, v, ok)
		}
	}

	s.register("acme")
	invs := s.invite("ada@example.com", "bob@example.com")
	s.do("POST", api+"/acme/invitations/"+invs[1]["id"].(string)+"/resend", s.admin, nil)
	s.do("DELETE", api+"/acme/invitations/"+invs[1]["id"].(string), s.admin, nil)
	expect(t, s.do("POST", api+"/invitations/"+invs[0]["token"].(string)+"/_accept", s.invitee("u", "ada@example.com"), nil), http.StatusOK)
	s.do("POST", api+"/acme/invitations/"+invs[1]["id"].(string)+"/accept", s.invitee("v", "bob@example.com"), nil) // cancelled: refused
	s.do("DELETE", api+"/acme/members/u", s.admin, nil)
	after := s.scrape()
	for _, name := range []string{"invitesvc_commands_total", "invitesvc_command_retries_total"} {
		if n, m := len(before[name].GetMetric()), len(after[name].GetMetric()); n != m {
			t.Errorf("%s had %d series before the flow and %d after: a command or outcome is missing from the initial set", name, n, m)
		}
	}
	if v, _ := sample(after, "invitesvc_commands_total", "command", "accept_invitation", "outcome", "written"); v != 1 {
		t.Errorf("accepts written: %v, want 1", v)
	}
}
