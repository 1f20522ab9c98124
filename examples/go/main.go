// Command shop is the example action server of examples/ACTIONS.md in Go.
//
//	shop [--address 127.0.0.1:50052] [--prefix go_] [--grace 10s]
//
// JETACTIONS_ADDRESS and JETACTIONS_PREFIX are the defaults of the two flags.
// It prints "listening on HOST:PORT" once it accepts calls (port 0 picks a free
// port), serves grpc.health.v1 and stops gracefully on SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	pb "github.com/jetbridge-grpc/examples/go/gen/jetactions/v1"
)

// maxMessageBytes bounds messages both ways, explicitly: gRPC's defaults (4 MiB
// to receive, no bound to send) differ between languages and from the bridge.
const maxMessageBytes = 16 << 20

func main() {
	address := flag.String("address", env("JETACTIONS_ADDRESS", "127.0.0.1:50052"),
		"host:port to listen on (env JETACTIONS_ADDRESS)")
	prefix := flag.String("prefix", env("JETACTIONS_PREFIX", ""),
		"put in front of every action and model name (env JETACTIONS_PREFIX)")
	grace := flag.Duration("grace", 10*time.Second, "how long calls in flight may run on after SIGTERM or SIGINT")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("shop: ")

	lis, err := net.Listen("tcp", *address)
	if err != nil {
		log.Fatal(err)
	}
	srv, hs := newServer(newShop(*prefix))
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	fmt.Printf("listening on %s\n", lis.Addr())

	select {
	case err := <-served:
		log.Fatal(err)
	case sig := <-stop:
		log.Printf("%s: draining for at most %s", sig, *grace)
	}
	// NOT_SERVING first (Watch streams get it, then end), so that clients move
	// away; GracefulStop then refuses new calls and waits for those in flight.
	hs.Shutdown()
	drained := make(chan struct{})
	go func() { srv.GracefulStop(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(*grace):
		log.Print("grace period over: closing the remaining calls")
		srv.Stop()
	case <-stop:
		log.Print("second signal: closing the remaining calls")
		srv.Stop()
	}
}

// newServer builds the gRPC server with the shop and grpc.health.v1, both
// SERVING for "" and for jetactions.v1.ActionService.
func newServer(s *shop) (*grpc.Server, *healthServer) {
	srv := grpc.NewServer(
		grpc.MaxRecvMsgSize(maxMessageBytes),
		grpc.MaxSendMsgSize(maxMessageBytes),
		// Clients such as the bridge may ping idle connections every 10 s. Half
		// that as the floor leaves room for timer jitter; pings more frequent
		// than MinTime earn strikes and then GOAWAY "too_many_pings".
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             5 * time.Second,
			PermitWithoutStream: true,
		}),
	)
	pb.RegisterActionServiceServer(srv, s)
	hs := newHealthServer() // "" starts SERVING
	hs.SetServingStatus(pb.ActionService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	return srv, hs
}

func env(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return fallback
}
