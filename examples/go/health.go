package main

import (
	"context"
	"sync"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthServer is grpc-go's health service, plus Watch streams that end when
// the server shuts down. grpc-go's own keep running, so GracefulStop would wait
// for every watcher until the grace period runs out.
type healthServer struct {
	*health.Server

	once     sync.Once
	stopping chan struct{}
}

func newHealthServer() *healthServer {
	return &healthServer{Server: health.NewServer(), stopping: make(chan struct{})}
}

// Shutdown sets every service NOT_SERVING, for good, and ends Watch streams
// after telling them so.
func (h *healthServer) Shutdown() {
	h.once.Do(func() {
		h.Server.Shutdown()
		close(h.stopping)
	})
}

func (h *healthServer) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-h.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	w := &watchStream{Health_WatchServer: stream, ctx: ctx}
	err := h.Server.Watch(req, w)
	select {
	case <-h.stopping:
		// The inner Watch may have stopped before it sent the last status:
		// send it here, then end the stream with OK, after which clients
		// retry with backoff, as the health protocol says.
		if w.last != healthpb.HealthCheckResponse_NOT_SERVING {
			return stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING})
		}
		return nil
	default:
		return err
	}
}

// watchStream is a Watch stream with a context of our own, that remembers the
// last status it sent.
type watchStream struct {
	healthpb.Health_WatchServer
	ctx  context.Context
	last healthpb.HealthCheckResponse_ServingStatus
}

func (w *watchStream) Context() context.Context { return w.ctx }

func (w *watchStream) Send(r *healthpb.HealthCheckResponse) error {
	w.last = r.GetStatus()
	return w.Health_WatchServer.Send(r)
}
