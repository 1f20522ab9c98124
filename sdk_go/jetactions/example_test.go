package jetactions_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions"
	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions/jetactionstest"
)

// MailInput is the form of the mail action: one struct field per input.
type MailInput struct {
	Subject string     `jet:"subject,label=Subject"`   // CharField, required
	Body    string     `jet:"body,type=text,optional"` // TextField, optional
	Urgent  bool       `jet:"urgent,default=false"`    // BooleanField, starts false
	Send    *time.Time `jet:"send_at,label=Send at"`   // DateTimeField, optional (a pointer)
}

func mail(ctx context.Context, req *jetactions.Request[MailInput]) (*jetactions.Result, error) {
	if req.Input.Urgent && req.Input.Body == "" {
		return nil, jetactions.FieldError("body", "an urgent mail needs a body")
	}
	return jetactions.Message("Mailed %d users: %s", len(req.IDs), req.Input.Subject), nil
}

// A model action with typed inputs, called in-process as a unit test would.
func ExampleModelAction() {
	srv := jetactions.NewServer("mailer")
	srv.Handle(jetactions.ModelAction("mail_users", "users", mail,
		jetactions.ForInstance(), jetactions.Bulk(), jetactions.Label("Mail users"), jetactions.Icon("email")))

	client, _ := jetactionstest.Start(srv)
	defer client.Close()
	ctx := context.Background()
	result, _ := client.Execute(ctx, "mail_users", jetactionstest.Model("users"),
		jetactionstest.IDs(1, "2"), jetactionstest.Inputs(map[string]any{"subject": "Hi"}))
	fmt.Println(result.Message)

	// Invalid inputs never reach the handler: they come back as field errors.
	_, err := client.Execute(ctx, "mail_users", jetactionstest.Model("users"),
		jetactionstest.Inputs(map[string]any{"urgent": "maybe"}))
	var fe *jetactions.FieldErrors
	if errors.As(err, &fe) {
		fmt.Println(fe.Fields["subject"], fe.Fields["urgent"])
	}
	// Output:
	// Mailed 2 users: Hi
	// [This field is required.] [Enter true or false.]
}

// A status error carries a gRPC code that the bridge maps to HTTP.
func ExampleErrorf() {
	srv := jetactions.NewServer("billing")
	srv.Handle(jetactions.CommonAction("charge", func(ctx context.Context, req *jetactions.Request[struct{}]) (*jetactions.Result, error) {
		return nil, jetactions.Errorf(codes.Unavailable, "the payment provider is down")
	}))
	client, _ := jetactionstest.Start(srv)
	defer client.Close()
	_, err := client.Execute(context.Background(), "charge")
	var e *jetactions.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code(), e.Message())
	}
	// Output: Unavailable the payment provider is down
}

// Field options computed from the form the user is filling in.
func ExampleServer_HandleFieldOptions() {
	type ShipInput struct {
		Country string `jet:"country"`
		City    string `jet:"city,server_options"`
	}
	srv := jetactions.NewServer("shipping")
	srv.Handle(jetactions.ModelAction("ship", "orders", func(ctx context.Context, req *jetactions.Request[ShipInput]) (*jetactions.Result, error) {
		return jetactions.Message("shipped to %s", req.Input.City), nil
	}, jetactions.Field("country", jetactions.Choices(jetactions.Option{Value: "uk", Name: "United Kingdom"}))))
	srv.HandleFieldOptions("orders", "city", func(ctx context.Context, req *jetactions.FieldRequest) ([]jetactions.Option, error) {
		if req.Form["country"] == "uk" {
			return []jetactions.Option{{Value: "leeds", Name: "Leeds", Color: "yellow"}}, nil
		}
		return nil, nil
	})
	client, _ := jetactionstest.Start(srv)
	defer client.Close()
	options, _ := client.FieldOptions(context.Background(), "orders", "city", map[string]any{"country": "uk"})
	fmt.Println(options)
	// Output: [{leeds Leeds yellow}]
}

// A main function: serve until SIGTERM or SIGINT, then drain. The address ""
// reads JETACTIONS_ADDRESS (else 127.0.0.1:50051); the other settings come from
// the environment too, under the options given here.
func ExampleServer_Run() {
	srv := jetactions.NewServer("mailer", jetactions.WithGrace(30*time.Second))
	srv.Handle(jetactions.ModelAction("mail_users", "users", mail, jetactions.ForInstance(), jetactions.Bulk()))
	if err := srv.Run(""); err != nil {
		slog.Error("mailer stopped", "error", err)
		os.Exit(1)
	}
}
