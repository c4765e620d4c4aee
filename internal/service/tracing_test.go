package service_test

import (
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestTraceFollowsACommandIntoItsProjection checks that one trace links the
// HTTP request, the command, the JetStream append and the projection of the
// events, through the trace context carried in the NATS message headers.
func TestTraceFollowsACommandIntoItsProjection(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})

	s := startStack(t, "")
	s.register("acme")
	spans.Reset()
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	expect(t, s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"ada@example.com"}}, "traceparent", parent), http.StatusCreated)

	byName := map[string]sdktrace.ReadOnlySpan{}
	eventually(t, 5*time.Second, "the projection's spans", func() bool {
		for _, sp := range spans.GetSpans().Snapshots() {
			byName[sp.Name()] = sp
		}
		return byName["project events"] != nil
	})
	httpSpan := byName["POST /api/v1/organizations/{organization_id}/invitations"]
	command, appended, projected := byName["command create_invitations"], byName["jetstream append"], byName["project events"]
	if httpSpan == nil || command == nil || appended == nil {
		t.Fatalf("spans %v", keys(byName))
	}
	trace := httpSpan.SpanContext().TraceID()
	if trace.String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("the request's traceparent was not continued: %s", trace)
	}
	for name, sp := range map[string]sdktrace.ReadOnlySpan{"command": command, "append": appended, "projection": projected} {
		if sp.SpanContext().TraceID() != trace {
			t.Errorf("%s span in trace %s, want %s", name, sp.SpanContext().TraceID(), trace)
		}
	}
	if command.Parent().SpanID() != httpSpan.SpanContext().SpanID() || appended.Parent().SpanID() != command.SpanContext().SpanID() ||
		projected.Parent().SpanID() != appended.SpanContext().SpanID() {
		t.Fatal("spans are not nested request > command > append > projection")
	}
}

func keys(m map[string]sdktrace.ReadOnlySpan) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
