package service

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// startTracing exports traces over OTLP/HTTP to endpoint, a base URL such
// as http://127.0.0.1:4318 (see TracesURL). Trace context travels in W3C
// headers, over HTTP and in the NATS message headers, so a request, its
// command, the JetStream publish and the projection of its events form one
// trace.
func startTracing(ctx context.Context, endpoint, version string) (shutdown func(context.Context) error, err error) {
	traces, err := TracesURL(endpoint)
	if err != nil {
		return nil, err
	}
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(traces))
	if err != nil {
		return nil, fmt.Errorf("otlp exporter for %s: %w", traces, err)
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(resource.NewWithAttributes(semconv.SchemaURL,
			semconv.ServiceName("invitesvc"), semconv.ServiceVersion(version))),
	)
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return provider.Shutdown, nil
}

// tracesPath is where an OTLP/HTTP receiver takes traces.
const tracesPath = "/v1/traces"

// TracesURL reads endpoint as the OpenTelemetry specification reads
// OTEL_EXPORTER_OTLP_ENDPOINT: a base URL, to whose path the signal's path
// is added (http://host:4318 and http://host:4318/ send to
// http://host:4318/v1/traces, http://host/otel to http://host/otel/v1/traces).
// A URL whose path already ends in /v1/traces is the traces URL itself, as
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT would be, and is used as it is.
func TracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--otlp-endpoint %q: want a base URL such as http://127.0.0.1:4318", endpoint)
	}
	if !strings.HasSuffix(u.Path, tracesPath) {
		u.Path = path.Join("/", u.Path, tracesPath)
	}
	return u.String(), nil
}
