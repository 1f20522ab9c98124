package main

import (
	"context"
	"encoding/base64"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/jetbridge-grpc/examples/go/gen/jetactions/v1"
)

func values(t *testing.T, vs ...any) []*structpb.Value {
	t.Helper()
	out := make([]*structpb.Value, len(vs))
	for i, v := range vs {
		var err error
		if out[i], err = structpb.NewValue(v); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func inputs(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// want parses the protojson form of the expected response.
func want(t *testing.T, js string) *pb.ExecuteActionResponse {
	t.Helper()
	var r pb.ExecuteActionResponse
	if err := protojson.Unmarshal([]byte(js), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestExecuteAction(t *testing.T) {
	hi := map[string]any{"subject": "Hi"}
	csv := "id,name,email\n1,Ada,ada@example.com\n2,Brian,brian@example.com\n3,Chen,chen@example.com\n" +
		"4,Dana,dana@example.com\n5,Emil,emil@example.com\n"
	tests := []struct {
		name string
		req  *pb.ExecuteActionRequest
		want string
	}{
		{"mail ids", &pb.ExecuteActionRequest{Action: "go_mail_users", Ids: values(t, 1, "3"), Inputs: inputs(t, hi)},
			`{"result": {"value": true, "message": "Mailed 2 users"}}`},
		{"mail inverse", &pb.ExecuteActionRequest{Action: "go_mail_users", Ids: values(t, 1), InverseIds: true, Inputs: inputs(t, hi)},
			`{"result": {"value": true, "message": "Mailed 4 users"}}`},
		{"mail unknown", &pb.ExecuteActionRequest{Action: "go_mail_users", Ids: values(t, 1, 9), Inputs: inputs(t, hi)},
			`{"errors": {"nonFieldErrors": ["Unknown user id: 9"]}}`},
		{"mail invalid inputs", &pb.ExecuteActionRequest{Action: "go_mail_users", Ids: values(t, 1), Inputs: inputs(t, map[string]any{"subject": "", "urgent": "maybe"})},
			`{"errors": {"fields": {"subject": {"messages": ["This field is required."]}, "urgent": {"messages": ["Enter true or false."]}}}}`},
		{"wallet not a number", &pb.ExecuteActionRequest{Action: "go_adjust_wallet", Ids: values(t, 1), Inputs: inputs(t, map[string]any{"amount": "ten"})},
			`{"errors": {"fields": {"amount": {"messages": ["Enter a number."]}}}}`},
		{"wallet zero", &pb.ExecuteActionRequest{Action: "go_adjust_wallet", Ids: values(t, 1), Inputs: inputs(t, map[string]any{"amount": "0.00"})},
			`{"errors": {"fields": {"amount": {"messages": ["must be positive"]}}}}`},
		{"wallet", &pb.ExecuteActionRequest{Action: "go_adjust_wallet", Ids: values(t, 2, 1), Inputs: inputs(t, map[string]any{"amount": 5})},
			`{"result": {"value": true, "html": "Wallet of <strong>Brian</strong> was updated"}}`},
		{"export", &pb.ExecuteActionRequest{Action: "go_export_users"},
			`{"file": {"filename": "users.csv", "contentType": "text/csv", "content": "` + base64.StdEncoding.EncodeToString([]byte(csv)) + `"}}`},
		{"ship", &pb.ExecuteActionRequest{Action: "go_ship_order", Ids: values(t, 7), Inputs: inputs(t, map[string]any{"carrier": "ups", "country": "uk", "city": "leeds"})},
			`{"result": {"value": true, "message": "Order 7 ships with UPS to Leeds"}}`},
		{"ship city of another country", &pb.ExecuteActionRequest{Action: "go_ship_order", Ids: values(t, 7), Inputs: inputs(t, map[string]any{"carrier": "ups", "country": "uk", "city": "rome"})},
			`{"errors": {"fields": {"city": {"messages": ["not a city of United Kingdom"]}}}}`},
		{"ship bad carrier", &pb.ExecuteActionRequest{Action: "go_ship_order", Ids: values(t, 7), Inputs: inputs(t, map[string]any{"carrier": "fedex", "country": "uk", "city": "leeds"})},
			`{"errors": {"fields": {"carrier": {"messages": ["Select a valid choice. fedex is not one of the available choices."]}}}}`},
		{"refresh", &pb.ExecuteActionRequest{Action: "go_refresh_stats"},
			`{"result": {"value": true}}`},
	}
	s := newShop("go_")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ExecuteAction(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if w := want(t, tt.want); !proto.Equal(got, w) {
				t.Errorf("got %v, want %v", got, w)
			}
		})
	}
}

func TestRefusedCalls(t *testing.T) {
	s := newShop("go_")
	for _, action := range []string{"go_nope", "mail_users", ""} {
		_, err := s.ExecuteAction(t.Context(), &pb.ExecuteActionRequest{Action: action})
		if status.Code(err) != codes.NotFound {
			t.Errorf("action %q: got %v, want NotFound", action, err)
		}
	}
	_, err := s.GetFieldOptions(t.Context(), &pb.GetFieldOptionsRequest{Model: "orders", Field: "city"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("unprefixed model: got %v, want NotFound", err)
	}
	_, err = s.ExecuteAction(t.Context(), &pb.ExecuteActionRequest{Action: "go_mail_users", Ids: values(t, true)})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("boolean id: got %v, want InvalidArgument", err)
	}
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = s.ExecuteAction(expired, &pb.ExecuteActionRequest{Action: "go_refresh_stats"})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("past deadline: got %v, want DeadlineExceeded", err)
	}
}

func TestFieldOptions(t *testing.T) {
	s := newShop("")
	for country, names := range map[string][]string{"italy": {"Rome", "Milan"}, "uk": {"London", "Leeds"}, "other": nil} {
		r, err := s.GetFieldOptions(t.Context(), &pb.GetFieldOptionsRequest{
			Model: "orders", Field: "city", Form: inputs(t, map[string]any{"country": country}),
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range r.GetOptions() {
			got = append(got, o.GetName())
		}
		if len(got) != len(names) || (len(got) > 0 && (got[0] != names[0] || got[1] != names[1])) {
			t.Errorf("%s: got %v, want %v", country, got, names)
		}
	}
}

// TestServer calls a real server on a free port: health and ListActions.
func TestServer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, hs := newServer(newShop("go_"))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { hs.Shutdown(); srv.GracefulStop() })

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	for _, service := range []string{"", "jetactions.v1.ActionService"} {
		r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v, %v", service, r, err)
		}
	}
	r, err := pb.NewActionServiceClient(conn).ListActions(ctx, &pb.ListActionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range r.GetActions() {
		names = append(names, a.GetName())
	}
	if len(names) != 5 || names[0] != "go_mail_users" || names[4] != "go_refresh_stats" {
		t.Errorf("actions: %v", names)
	}
	if refs := r.GetFieldOptions(); len(refs) != 1 || refs[0].GetModel() != "go_orders" || refs[0].GetField() != "city" {
		t.Errorf("field options: %v", refs)
	}
}
