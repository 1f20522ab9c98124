package jetactions_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/jetbridge/jetbridge-grpc/sdk_go/gen/jetactions/v1"
	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions"
)

func TestSpanPerCallContinuesTheCallersTrace(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	r := serve(t, newSlow().new, jetactions.WithTracerProvider(provider))
	stub := pb.NewActionServiceClient(dial(t, r.addr, nil))
	const traceID, parentID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	md := metadata.Pairs("traceparent", "00-"+traceID+"-"+parentID+"-01", "tracestate", "vendor=1", "x-request-id", "t-1")
	ids := []*structpb.Value{structpb.NewNumberValue(4), structpb.NewStringValue("x")}
	if _, err := stub.ExecuteAction(metadata.NewOutgoingContext(context.Background(), md), &pb.ExecuteActionRequest{Action: "echo", Model: "users", Ids: ids}); err != nil {
		t.Fatal(err)
	}
	if _, err := stub.ExecuteAction(context.Background(), &pb.ExecuteActionRequest{Action: "fail"}); err == nil {
		t.Fatal("fail succeeded")
	}
	spans := recorder.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	ok, failed := spans[0], spans[1]
	if ok.Name() != "jetactions.v1.ActionService/ExecuteAction" || ok.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v", ok.Name(), ok.SpanKind())
	}
	if ok.SpanContext().TraceID().String() != traceID || ok.Parent().SpanID().String() != parentID || !ok.Parent().IsRemote() {
		t.Errorf("trace %s parent %s", ok.SpanContext().TraceID(), ok.Parent().SpanID())
	}
	if ok.SpanContext().TraceState().String() != "vendor=1" {
		t.Errorf("tracestate %q", ok.SpanContext().TraceState())
	}
	want := map[string]attribute.Value{
		"rpc.system":            attribute.StringValue("grpc"),
		"rpc.service":           attribute.StringValue("jetactions.v1.ActionService"),
		"rpc.method":            attribute.StringValue("ExecuteAction"),
		"rpc.grpc.status_code":  attribute.IntValue(0),
		"jetactions.action":     attribute.StringValue("echo"),
		"jetactions.model":      attribute.StringValue("users"),
		"jetactions.ids":        attribute.IntValue(2),
		"jetactions.outcome":    attribute.StringValue("result"),
		"jetactions.request_id": attribute.StringValue("t-1"),
	}
	got := map[string]attribute.Value{}
	for _, kv := range ok.Attributes() {
		got[string(kv.Key)] = kv.Value
	}
	if len(got) != len(want) {
		t.Errorf("attributes %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k].Emit(), v.Emit())
		}
	}
	if failed.SpanContext().TraceID().String() == traceID || failed.Parent().IsValid() {
		t.Error("without a traceparent a call starts a trace")
	}
	if failed.Status().Code != otelcodes.Error {
		t.Errorf("status %v", failed.Status())
	}
}

func TestHandlersSpansAreChildrenOfTheCallsSpan(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	r := serve(t, func(opts ...jetactions.ServerOption) *jetactions.Server {
		srv := jetactions.NewServer("inner", opts...)
		srv.Handle(jetactions.CommonAction("query", func(ctx context.Context, req *jetactions.Request[struct{}]) (*jetactions.Result, error) {
			_, span := trace.SpanFromContext(ctx).TracerProvider().Tracer("app").Start(ctx, "db query")
			span.End()
			return jetactions.Message("ok"), nil
		}))
		return srv
	}, jetactions.WithTracerProvider(provider))
	stub := pb.NewActionServiceClient(dial(t, r.addr, nil))
	if _, err := stub.ExecuteAction(context.Background(), &pb.ExecuteActionRequest{Action: "query"}); err != nil {
		t.Fatal(err)
	}
	spans := recorder.Ended()
	if len(spans) != 2 || spans[0].Name() != "db query" {
		t.Fatalf("spans %v", spans)
	}
	if spans[0].Parent().SpanID() != spans[1].SpanContext().SpanID() {
		t.Error("the handler's span is not a child of the call's")
	}
}

var metricsLine = regexp.MustCompile(`metrics on http://([\d.]+:\d+)/metrics`)

func TestMetricsCountEveryCallWithBoundedLabels(t *testing.T) {
	r := serve(t, newSlow().new, jetactions.WithMetricsPort(0), jetactions.WithSecret("s"))
	m := metricsLine.FindStringSubmatch(r.logs.String())
	if m == nil {
		t.Fatalf("no metrics line: %s", r.logs)
	}
	stub := pb.NewActionServiceClient(dial(t, r.addr, nil))
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-jetbridge-secret", "s")
	for _, action := range []string{"echo", "echo", "fail", "no-such-action"} {
		_, _ = stub.ExecuteAction(ctx, &pb.ExecuteActionRequest{Action: action})
	}
	_, _ = stub.ListActions(context.Background(), &pb.ListActionsRequest{}) // no secret
	response, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(response.Body)
	text := string(body)
	for _, line := range []string{
		`rpc_server_calls_total{action="echo",outcome="result",rpc_method="ExecuteAction"} 2`,
		`rpc_server_calls_total{action="fail",outcome="INTERNAL",rpc_method="ExecuteAction"} 1`,
		`rpc_server_calls_total{action="",outcome="NOT_FOUND",rpc_method="ExecuteAction"} 1`,
		`rpc_server_calls_total{action="",outcome="UNAUTHENTICATED",rpc_method="ListActions"} 1`,
		`rpc_server_duration_seconds_count{action="echo",outcome="result",rpc_method="ExecuteAction"} 2`,
		`rpc_server_duration_seconds_bucket{action="echo",outcome="result",rpc_method="ExecuteAction",le="60"} 2`,
		`rpc_server_active_requests{rpc_method="ExecuteAction"} 0`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("no %s in\n%s", line, grepRPC(text))
		}
	}
	if strings.Contains(text, "no-such-action") {
		t.Error("an unknown action made a series")
	}
}

func grepRPC(text string) string {
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "rpc_") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
