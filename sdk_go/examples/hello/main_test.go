package main

import (
	"context"
	"testing"

	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions/jetactionstest"
)

func TestGreet(t *testing.T) {
	client := jetactionstest.New(t, newServer())
	result, err := client.Execute(context.Background(), "greet",
		jetactionstest.Inputs(map[string]any{"name": "Ada"}))
	if err != nil {
		t.Fatal(err)
	}
	if result.Message != "Hello, Ada!" {
		t.Errorf("got %q", result.Message)
	}
}
