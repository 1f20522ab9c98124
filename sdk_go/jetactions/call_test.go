package jetactions_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions"
	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions/jetactionstest"
)

type outcomeInput struct {
	Kind string `jet:"kind"`
}

func outcome(ctx context.Context, req *jetactions.Request[outcomeInput]) (*jetactions.Result, error) {
	switch req.Input.Kind {
	case "value":
		return jetactions.Value(map[string]any{"n": 3}), nil
	case "extra":
		return &jetactions.Result{Message: "m", Extra: map[string]any{"count": 2, "next": "page2"}}, nil
	case "html":
		return jetactions.HTML("<b>hi</b>"), nil
	case "file":
		return jetactions.Download("a.bin", "", []byte{0, 1, 2}), nil
	case "fields":
		return nil, jetactions.FieldError("kind", "no").Add(jetactions.NonFieldErrors, "and not this either")
	case "status":
		return nil, status.Error(codes.PermissionDenied, "not yours")
	case "wrapped":
		return nil, errors.Join(errors.New("context"), jetactions.Errorf(codes.FailedPrecondition, "locked"))
	case "panic":
		panic("boom")
	case "slow":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, nil
}

func TestOutcomes(t *testing.T) {
	srv := jetactions.NewServer("outcomes")
	srv.Handle(jetactions.CommonAction("outcome", outcome, jetactions.Timeout(50*time.Millisecond), jetactions.Idempotent()))
	client := jetactionstest.New(t, srv)
	tests := []struct {
		kind     string
		want     *jetactions.Result
		wantCode codes.Code
		wantErr  string
	}{
		{"none", &jetactions.Result{Value: true, Extra: map[string]any{}}, codes.OK, ""},
		{"value", &jetactions.Result{Value: map[string]any{"n": 3.0}, Extra: map[string]any{}}, codes.OK, ""},
		{"extra", &jetactions.Result{Value: true, Message: "m", Extra: map[string]any{"count": 2.0, "next": "page2"}}, codes.OK, ""},
		{"html", &jetactions.Result{Value: true, HTML: "<b>hi</b>", Extra: map[string]any{}}, codes.OK, ""},
		{"file", jetactions.Download("a.bin", "", []byte{0, 1, 2}), codes.OK, ""},
		{"fields", nil, codes.OK, "field errors: kind: no; and not this either"},
		{"status", nil, codes.PermissionDenied, "not yours"},
		{"wrapped", nil, codes.FailedPrecondition, "locked"},
		{"panic", nil, codes.Internal, "action outcome failed"},
		{"slow", nil, codes.DeadlineExceeded, "action outcome ran out of time"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			got, err := client.Execute(context.Background(), "outcome", jetactionstest.Inputs(map[string]any{"kind": tt.kind}))
			var e *jetactions.Error
			switch {
			case tt.wantCode != codes.OK:
				if !errors.As(err, &e) || e.Code() != tt.wantCode || e.Message() != tt.wantErr {
					t.Errorf("got %v, want %v %q", err, tt.wantCode, tt.wantErr)
				}
			case tt.wantErr != "":
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("got %v, want %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !reflect.DeepEqual(got, tt.want):
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	listing, _ := client.ListActions(context.Background())
	if a := listing.GetActions()[0]; a.GetTimeout().AsDuration() != 50*time.Millisecond || !a.GetIdempotent() || a.GetCommonAction() == nil {
		t.Errorf("declaration: %v", a)
	}
}

func TestRequest(t *testing.T) {
	var seen *jetactions.Request[struct{}]
	var deadline time.Time
	srv := jetactions.NewServer("ctx", jetactions.WithSecret("s"))
	srv.Handle(jetactions.ModelAction("look", "users", func(ctx context.Context, req *jetactions.Request[struct{}]) (*jetactions.Result, error) {
		seen, deadline = req, time.Time{}
		deadline, _ = ctx.Deadline()
		return nil, nil
	}, jetactions.AlsoOn("customers"), jetactions.ForInstance(), jetactions.Bulk()))
	client := jetactionstest.New(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	caller := &jetactions.Caller{AuthMethod: "jwt", UserID: "7", UserEmail: "ada@example.com", Project: "p", Environment: "prod",
		Claims: map[string]any{"role": "admin"}}
	_, err := client.Execute(ctx, "look", jetactionstest.Model("customers"), jetactionstest.IDs(1, "2", 2.5),
		jetactionstest.InverseIDs(), jetactionstest.Inputs(map[string]any{"extra": "kept"}),
		jetactionstest.Params(map[string]any{"name": "look", "unknown": 1}), jetactionstest.Caller(caller),
		jetactionstest.Metadata("x-request-id", "r-1"), jetactionstest.Metadata("x-jetbridge-secret", "s"))
	if err != nil {
		t.Fatal(err)
	}
	ids := []any{1.0, "2", 2.5}
	for i, id := range seen.IDs {
		if id.Value() != ids[i] {
			t.Errorf("id %d: %v, want %v", i, id.Value(), ids[i])
		}
	}
	if n, ok := seen.IDs[1].Int64(); !ok || n != 2 || seen.IDs[0].String() != "1" || seen.IDs[2].IsNumber() != true {
		t.Errorf("ids: %v", seen.IDs)
	}
	if !seen.InverseIDs || seen.Model != "customers" || seen.Action != "look" || seen.Inputs["extra"] != "kept" ||
		seen.Params["unknown"] != 1.0 || seen.RequestID != "r-1" || !reflect.DeepEqual(seen.Caller, caller) {
		t.Errorf("request: %+v caller %+v", seen, seen.Caller)
	}
	if len(seen.Metadata.Get("x-jetbridge-secret")) != 0 {
		t.Error("the handler saw the secret")
	}
	if time.Until(deadline) < 50*time.Second {
		t.Errorf("deadline %v", deadline)
	}
	var e *jetactions.Error
	if _, err := client.Execute(ctx, "look", jetactionstest.Model("users")); !errors.As(err, &e) || e.Code() != codes.Unauthenticated {
		t.Errorf("without the secret: %v", err)
	}
}
