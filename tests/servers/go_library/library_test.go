package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions"
	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions/jetactionstest"
)

func TestLibrary(t *testing.T) {
	client := jetactionstest.New(t, newServer())
	ctx := context.Background()
	tomorrow := time.Now().AddDate(0, 0, 1).Format(time.DateOnly)
	tests := []struct {
		name, action string
		opts         []jetactionstest.CallOption
		wantMessage  string
		wantField    string
	}{
		{"lend", "lend_book", []jetactionstest.CallOption{jetactionstest.Model("books"), jetactionstest.IDs(1, 4),
			jetactionstest.Inputs(map[string]any{"member": "m-7", "due": tomorrow})}, "Lent 2 books", ""},
		{"lend in the past", "lend_book", []jetactionstest.CallOption{jetactionstest.Model("books"), jetactionstest.IDs(1),
			jetactionstest.Inputs(map[string]any{"member": 7, "due": "2000-01-01"})}, "", "due"},
		{"search bad genre", "search_books", []jetactionstest.CallOption{jetactionstest.Inputs(map[string]any{"query": "a", "genre": "poetry"})}, "", "genre"},
		{"reserve", "reserve_book", []jetactionstest.CallOption{jetactionstest.Model("ebooks"), jetactionstest.IDs(2),
			jetactionstest.Inputs(map[string]any{"branch": "central"})}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := client.Execute(ctx, tt.action, tt.opts...)
			var fe *jetactions.FieldErrors
			switch {
			case tt.wantField != "":
				if !errors.As(err, &fe) || fe.Fields[tt.wantField] == nil {
					t.Errorf("got %v, want an error on %s", err, tt.wantField)
				}
			case err != nil:
				t.Fatal(err)
			case got.Message != tt.wantMessage:
				t.Errorf("got %+v", got)
			}
		})
	}
	found, err := client.Execute(ctx, "search_books", jetactionstest.Inputs(map[string]any{"query": "o", "genre": "fiction", "limit": "1"}))
	if err != nil || len(found.Value.([]any)) != 1 {
		t.Errorf("search: %+v %v", found, err)
	}
	var e *jetactions.Error
	if _, err := client.Execute(ctx, "close_branch", jetactionstest.Inputs(map[string]any{"reason": "budget"})); !errors.As(err, &e) || e.Code() != codes.FailedPrecondition {
		t.Errorf("close_branch: %v", err)
	}
	options, err := client.FieldOptions(ctx, "books", "branch", map[string]any{"genre": "history"})
	if err != nil || len(options) != 1 || options[0].Name != "Old Town" {
		t.Errorf("branches: %v %v", options, err)
	}
}
