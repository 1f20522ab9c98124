package jetactions

import (
	"context"
	"sync"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthServer is grpc-go's health service whose Watch streams end when the
// server drains: grpc-go's own keep running, so GracefulStop would wait for
// every watcher (the bridge is one) until the grace period runs out.
type healthServer struct {
	*health.Server

	once     sync.Once
	stopping chan struct{}
}

func newHealthServer() *healthServer {
	h := &healthServer{Server: health.NewServer(), stopping: make(chan struct{})}
	h.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_SERVING) // "" starts SERVING
	return h
}

// shutdown sets every service NOT_SERVING, for good, and ends Watch streams
// once they were told.
func (h *healthServer) shutdown() {
	h.once.Do(func() {
		h.Shutdown()
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
	err := h.Server.Watch(req, &watchStream{Health_WatchServer: stream, ctx: ctx})
	select {
	case <-h.stopping:
		return nil // the NOT_SERVING update was sent; end the stream cleanly
	default:
		return err
	}
}

type watchStream struct {
	healthpb.Health_WatchServer
	ctx context.Context
}

func (w *watchStream) Context() context.Context { return w.ctx }
