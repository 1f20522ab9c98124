package jetactions

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/jetbridge/jetbridge-grpc/sdk_go/gen/jetactions/v1"
)

// maxRequestID bounds the request id a caller sends: it goes on every log
// line and span of the call.
const maxRequestID = 128

// observer watches each ActionService call: its metrics and its span. It is
// the first interceptor, so it also sees the calls the secret check refuses.
type observer struct {
	metrics *callMetrics // nil: no metrics
	tracing *tracing     // nil: no spans
	actions map[string]bool
	sources map[string]bool // "model.field" of the declared field options
}

func (o *observer) interceptor() grpc.UnaryServerInterceptor {
	prefix := "/" + ServiceName + "/"
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		method, ok := strings.CutPrefix(info.FullMethod, prefix)
		if !ok {
			return next(ctx, req)
		}
		md, _ := metadata.FromIncomingContext(ctx)
		var span trace.Span
		if o.tracing != nil {
			ctx = o.tracing.propagator.Extract(ctx, metadataCarrier(md))
			ctx, span = o.tracing.tracer.Start(ctx, ServiceName+"/"+method, trace.WithSpanKind(trace.SpanKindServer))
		}
		var active interface{ Dec() }
		if o.metrics != nil {
			gauge := o.metrics.active.WithLabelValues(method)
			gauge.Inc()
			active = gauge
		}
		start := time.Now()
		response, err := next(ctx, req)
		outcome := outcomeLabel(response, err)
		if o.metrics != nil {
			active.Dec()
			o.metrics.record(method, o.actionLabel(req), outcome, time.Since(start))
		}
		if span != nil {
			code := status.Code(err)
			span.SetAttributes(spanAttributes(method, requestIDOf(md), outcome, code, req)...)
			if serverErrors[outcome] {
				span.SetStatus(otelcodes.Error, outcome)
			}
			span.End()
		}
		return response, err
	}
}

// actionLabel is the bounded action label: a declared name, else "".
func (o *observer) actionLabel(req any) string {
	switch r := req.(type) {
	case *pb.ExecuteActionRequest:
		if o.actions[r.GetAction()] {
			return r.GetAction()
		}
	case *pb.GetFieldOptionsRequest:
		if source := r.GetModel() + "." + r.GetField(); o.sources[source] {
			return source
		}
	}
	return ""
}

// outcomeLabel names a call's outcome as the Python SDK does: "result",
// "errors" or "file" for an ExecuteAction, "OK" for the other methods, else
// the gRPC code's name (NOT_FOUND).
func outcomeLabel(response any, err error) string {
	if err != nil {
		return codeName(status.Code(err))
	}
	if r, ok := response.(*pb.ExecuteActionResponse); ok {
		return outcomeOf(r, nil)
	}
	return "OK"
}

// codeName is a code's name in the contract's spelling (grpc-go's String()
// says NotFound and Canceled).
func codeName(c codes.Code) string {
	if name, ok := codeNames[c]; ok {
		return name
	}
	return "UNKNOWN"
}

var codeNames = map[codes.Code]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
	codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
	codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
	codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
	codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
	codes.Unauthenticated: "UNAUTHENTICATED",
}

// requestIDOf reads the caller's request id, cut to maxRequestID bytes.
func requestIDOf(md metadata.MD) string {
	values := md.Get(RequestIDHeader)
	if len(values) == 0 {
		return ""
	}
	id := values[0]
	if len(id) > maxRequestID {
		id = id[:maxRequestID]
	}
	return id
}

// spanAttributes are a call's span attributes, named as the Python SDK names them.
func spanAttributes(method, requestID, outcome string, code codes.Code, req any) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		attribute.String("rpc.system", "grpc"),
		attribute.String("rpc.service", ServiceName),
		attribute.String("rpc.method", method),
		attribute.Int("rpc.grpc.status_code", int(code)),
		attribute.String("jetactions.outcome", outcome),
	}
	if requestID != "" {
		attrs = append(attrs, attribute.String("jetactions.request_id", requestID))
	}
	switch r := req.(type) {
	case *pb.ExecuteActionRequest:
		attrs = append(attrs,
			attribute.String("jetactions.action", r.GetAction()),
			attribute.String("jetactions.model", r.GetModel()),
			attribute.Int("jetactions.ids", len(r.GetIds())))
	case *pb.GetFieldOptionsRequest:
		attrs = append(attrs,
			attribute.String("jetactions.model", r.GetModel()),
			attribute.String("jetactions.field", r.GetField()))
	}
	return attrs
}
