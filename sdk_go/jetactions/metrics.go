package jetactions

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// buckets of the duration histogram, from 1 ms to a minute: actions can be
// slow (exports, mail). The same as the Python SDK's.
var buckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// callMetrics are the process's ActionService metrics, with the names and
// labels of the Python SDK (OpenTelemetry's RPC conventions in Prometheus
// form), in client_golang's default registry so that an application's own
// metrics and the Go runtime's appear on the same endpoint.
type callMetrics struct {
	duration *prometheus.HistogramVec
	calls    *prometheus.CounterVec
	active   *prometheus.GaugeVec
}

var processMetrics = sync.OnceValue(func() *callMetrics {
	labels := []string{"rpc_method", "action", "outcome"}
	m := &callMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rpc_server_duration_seconds", Help: "Duration of ActionService calls, by method, action and outcome.", Buckets: buckets,
		}, labels),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rpc_server_calls_total", Help: "ActionService calls, by method, action and outcome.",
		}, labels),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rpc_server_active_requests", Help: "ActionService calls in progress.",
		}, []string{"rpc_method"}),
	}
	prometheus.DefaultRegisterer.MustRegister(m.duration, m.calls, m.active)
	return m
})

func (m *callMetrics) record(method, action, outcome string, elapsed time.Duration) {
	m.duration.WithLabelValues(method, action, outcome).Observe(elapsed.Seconds())
	m.calls.WithLabelValues(method, action, outcome).Inc()
}

// metricsEndpoint serves GET /metrics of the default registry on its own port.
type metricsEndpoint struct {
	server *http.Server
	addr   net.Addr
}

// serveMetrics listens on host:port (port 0 picks one) and serves /metrics.
func serveMetrics(host string, port int) (*metricsEndpoint, error) {
	lis, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = server.Serve(lis) }() // ends with ErrServerClosed on close
	return &metricsEndpoint{server: server, addr: lis.Addr()}, nil
}

func (e *metricsEndpoint) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = e.server.Shutdown(ctx)
}
