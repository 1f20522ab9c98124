package main

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions"
	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions/jetactionstest"
)

type call = []jetactionstest.CallOption

func TestShop(t *testing.T) {
	csv := "id,name,email\n1,Ada,ada@example.com\n2,Brian,brian@example.com\n3,Chen,chen@example.com\n" +
		"4,Dana,dana@example.com\n5,Emil,emil@example.com\n"
	m, ids, in := jetactionstest.Model, jetactionstest.IDs, jetactionstest.Inputs
	tests := []struct {
		name, action string
		call         call
		want         *jetactions.Result
		wantErr      error
	}{
		{"mail numbers", "mail_users", call{m("users"), ids(1, 2), in(map[string]any{"subject": "Hi"})}, jetactions.Message("Mailed 2 users"), nil},
		{"mail strings", "mail_users", call{m("users"), ids("1", "3", "5"), in(map[string]any{"subject": "Hi", "urgent": "true"})}, jetactions.Message("Mailed 3 users"), nil},
		{"mail inverse", "mail_users", call{m("users"), ids(1), jetactionstest.InverseIDs(), in(map[string]any{"subject": "Hi"})}, jetactions.Message("Mailed 4 users"), nil},
		{"mail unknown id", "mail_users", call{m("users"), ids(1, 99), in(map[string]any{"subject": "Hi"})}, nil, jetactions.NonFieldError("Unknown user id: 99")},
		{"mail no subject", "mail_users", call{m("users"), ids(1), in(map[string]any{"body": "x"})}, nil, jetactions.FieldError("subject", "This field is required.")},
		{"wallet", "adjust_wallet", call{m("users"), ids(1), in(map[string]any{"amount": "2.50"})}, jetactions.HTML("Wallet of <strong>Ada</strong> was updated"), nil},
		{"wallet negative", "adjust_wallet", call{m("users"), ids(1), in(map[string]any{"amount": -0.01})}, nil, jetactions.FieldError("amount", "must be positive")},
		{"wallet ten", "adjust_wallet", call{m("users"), ids(1), in(map[string]any{"amount": "ten"})}, nil, jetactions.FieldError("amount", "Enter a number.")},
		{"export", "export_users", call{m("users")}, jetactions.Download("users.csv", "text/csv", []byte(csv)), nil},
		{"ship", "ship_order", call{m("orders"), ids(42), in(map[string]any{"carrier": "dhl", "country": "uk", "city": "leeds"})}, jetactions.Message("Order 42 ships with DHL to Leeds"), nil},
		{"ship fedex", "ship_order", call{m("orders"), ids(42), in(map[string]any{"carrier": "fedex", "country": "uk", "city": "leeds"})}, nil,
			jetactions.FieldError("carrier", "Select a valid choice. fedex is not one of the available choices.")},
		{"ship rome to uk", "ship_order", call{m("orders"), ids(42), in(map[string]any{"carrier": "ups", "country": "uk", "city": "rome"})}, nil, jetactions.FieldError("city", "not a city of United Kingdom")},
		{"refresh", "refresh_stats", nil, &jetactions.Result{Value: true}, nil},
		{"unknown", "no_such_action", nil, nil, jetactions.Errorf(codes.NotFound, "unknown action %q", "no_such_action")},
	}
	client := jetactionstest.New(t, newServer(""))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := client.Execute(context.Background(), tt.action, tt.call...)
			if tt.wantErr != nil {
				if err == nil || err.Error() != tt.wantErr.Error() || reflect.TypeOf(err) != reflect.TypeOf(tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := *tt.want
			if want.File == nil && want.Value == nil {
				want.Value = true
			}
			if want.File == nil {
				want.Extra = map[string]any{}
			}
			if !reflect.DeepEqual(got, &want) {
				t.Errorf("got %+v, want %+v", got, &want)
			}
		})
	}
}

func TestCities(t *testing.T) {
	client := jetactionstest.New(t, newServer("go_"))
	for country, want := range map[string][]string{"italy": {"rome", "milan"}, "uk": {"london", "leeds"}, "france": nil} {
		options, err := client.FieldOptions(context.Background(), "go_orders", "city", map[string]any{"country": country})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range options {
			got = append(got, o.Value.(string))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", country, got, want)
		}
	}
	var e *jetactions.Error
	if _, err := client.FieldOptions(context.Background(), "orders", "city", nil); !errors.As(err, &e) || e.Code() != codes.NotFound {
		t.Errorf("unprefixed model: %v, want NOT_FOUND", err)
	}
}

func TestListing(t *testing.T) {
	listing, err := jetactionstest.New(t, newServer("go_")).ListActions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range listing.GetActions() {
		names = append(names, a.GetName())
	}
	want := []string{"go_mail_users", "go_adjust_wallet", "go_export_users", "go_ship_order", "go_refresh_stats"}
	if !reflect.DeepEqual(names, want) || listing.GetServerName() != "go_shop" {
		t.Errorf("got %v from %q", names, listing.GetServerName())
	}
}
