package jetactions

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracing is how calls open their spans: a tracer and the propagator that
// reads the caller's context from the metadata.
type tracing struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	flush      func(context.Context) error
}

// tracesConfigured tells whether the OTEL_* variables ask for traces: an OTLP
// endpoint or OTEL_TRACES_EXPORTER is set, and neither OTEL_SDK_DISABLED=true
// nor OTEL_TRACES_EXPORTER=none (the rules of the Python SDK).
func tracesConfigured() bool {
	if v, _ := lookup("OTEL_SDK_DISABLED"); strings.EqualFold(strings.TrimSpace(v), "true") {
		return false
	}
	if v, _ := lookup("OTEL_TRACES_EXPORTER"); strings.TrimSpace(v) != "" {
		return !strings.EqualFold(strings.TrimSpace(v), "none")
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		if v, _ := lookup(name); v != "" {
			return true
		}
	}
	return false
}

var (
	processTracingMu sync.Mutex
	processTracing   *tracing
)

// tracingFromEnv returns the process's tracing when the environment
// configures it, else nil: then no call pays for a span. The first server to
// start names the service (unless OTEL_SERVICE_NAME does) and installs its
// tracer provider as the global one, so that handlers' own spans
// (otel.Tracer(...).Start(ctx, ...)) are children of the call's span.
func tracingFromEnv(serviceName string) (*tracing, error) {
	if !tracesConfigured() {
		return nil, nil
	}
	processTracingMu.Lock()
	defer processTracingMu.Unlock()
	if processTracing != nil {
		return processTracing, nil
	}
	if err := checkExporterEnv(); err != nil {
		return nil, err
	}
	// otlptracegrpc reads OTEL_EXPORTER_OTLP_{,TRACES_}{ENDPOINT,HEADERS,TIMEOUT,...};
	// the SDK reads OTEL_TRACES_SAMPLER{,_ARG} and OTEL_BSP_*.
	exporter, err := otlptracegrpc.New(context.Background())
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(resourceOf(serviceName)))
	processTracing = providerTracing(provider)
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(processTracing.propagator) // for the handlers' own outgoing calls
	processTracing.flush = provider.ForceFlush
	return processTracing, nil
}

// providerTracing opens spans with provider and reads W3C trace context and
// baggage from the metadata.
func providerTracing(provider trace.TracerProvider) *tracing {
	return &tracing{
		tracer:     provider.Tracer("github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions"),
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
}

// resourceOf describes the process: OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES win over the server's name.
func resourceOf(serviceName string) *resource.Resource {
	base := resource.NewSchemaless(attribute.String("service.name", serviceName))
	fromEnv, err := resource.New(context.Background(), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return base
	}
	merged, err := resource.Merge(base, fromEnv)
	if err != nil {
		return base
	}
	return merged
}

// checkExporterEnv refuses exporters and protocols this SDK does not ship.
func checkExporterEnv() error {
	if v, ok := lookup("OTEL_TRACES_EXPORTER"); ok && strings.TrimSpace(v) != "" && !strings.EqualFold(strings.TrimSpace(v), "otlp") {
		return fmt.Errorf("OTEL_TRACES_EXPORTER=%q is not supported, only otlp", v)
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v, ok := lookup(name); ok {
			if strings.TrimSpace(v) != "grpc" {
				return fmt.Errorf("%s=%q is not supported, only grpc", name, v)
			}
			return nil
		}
	}
	return nil
}

// serverErrors are the codes that are the server's fault (OpenTelemetry's RPC
// conventions): their spans are marked as errors.
var serverErrors = map[string]bool{
	"UNKNOWN": true, "DEADLINE_EXCEEDED": true, "UNIMPLEMENTED": true,
	"INTERNAL": true, "UNAVAILABLE": true, "DATA_LOSS": true,
}

// metadataCarrier reads and writes gRPC metadata for a propagator.
type metadataCarrier map[string][]string

func (c metadataCarrier) Get(key string) string {
	if v := c[strings.ToLower(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c metadataCarrier) Set(key, value string) { c[strings.ToLower(key)] = []string{value} }

func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
