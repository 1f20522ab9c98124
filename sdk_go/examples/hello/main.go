// Command hello is a first action server: one action with one input.
package main

import (
	"context"
	"log"

	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions"
)

// GreetInput is the action's form: one required text input.
type GreetInput struct {
	Name string `jet:"name,label=Your name"`
}

func greet(ctx context.Context, req *jetactions.Request[GreetInput]) (*jetactions.Result, error) {
	return jetactions.Message("Hello, %s!", req.Input.Name), nil
}

func newServer() *jetactions.Server {
	srv := jetactions.NewServer("hello")
	srv.Handle(jetactions.CommonAction("greet", greet, jetactions.Label("Greet")))
	return srv
}

func main() {
	// "" listens on JETACTIONS_ADDRESS, else 127.0.0.1:50051; SIGTERM drains.
	if err := newServer().Run(""); err != nil {
		log.Fatal(err)
	}
}
