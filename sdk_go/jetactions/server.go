package jetactions

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	pb "github.com/jetbridge/jetbridge-grpc/sdk_go/gen/jetactions/v1"
)

// Server is an action server: the actions declared on it, served over gRPC
// with grpc.health.v1 and server reflection. Declare everything with
// [Server.Handle] and [Server.HandleFieldOptions] before serving.
type Server struct {
	name string
	opts []ServerOption

	mu       sync.Mutex
	frozen   bool
	actions  []*Action
	byName   map[string]*Action
	options  map[fieldKey]FieldOptionsHandler
	keyOrder []fieldKey
}

// A ServerOption sets one server setting; options win over the environment.
type ServerOption func(*settings)

// WithSecret requires the bridge's shared secret in the x-jetbridge-secret
// metadata of every ActionService call; "" requires none. Without this
// option the server reads JETBRIDGE_SECRET.
func WithSecret(secret string) ServerOption { return func(s *settings) { s.secret = secret } }

// WithTLS serves over TLS; a config with ClientAuth set to
// tls.RequireAndVerifyClientCert makes it mutual TLS (see [TLSFromFiles]).
// Without this option the server reads JETACTIONS_TLS_*_FILE.
func WithTLS(config *tls.Config) ServerOption { return func(s *settings) { s.tls = config } }

// WithMaxMessageBytes bounds one message, sent and received (a File is one
// message); 16 MiB by default, or JETACTIONS_MAX_MESSAGE_BYTES.
func WithMaxMessageBytes(n int) ServerOption { return func(s *settings) { s.maxMessageBytes = n } }

// WithGrace sets how long calls in flight may run on once the server drains;
// 10 s by default, or JETACTIONS_GRACE (seconds).
func WithGrace(d time.Duration) ServerOption { return func(s *settings) { s.grace = d } }

// WithLogger sets the logger of the server's lines; by default a log/slog
// text (or, with JETACTIONS_LOG_FORMAT=json, JSON) logger on stderr.
func WithLogger(l *slog.Logger) ServerOption { return func(s *settings) { s.logger = l } }

// WithGRPCOptions adds grpc-go server options (interceptors, stats handlers).
func WithGRPCOptions(opts ...grpc.ServerOption) ServerOption {
	return func(s *settings) { s.grpcOptions = append(s.grpcOptions, opts...) }
}

// WithMetricsPort serves Prometheus metrics (GET /metrics) on this port of
// the listening address's host (0 picks one; negative: none). Without this
// option the server reads JETACTIONS_METRICS_PORT; off by default.
func WithMetricsPort(port int) ServerOption { return func(s *settings) { s.metricsPort = port } }

// WithTracerProvider opens each call's server span with provider, for an
// application that sets up OpenTelemetry itself. Without this option spans are
// exported over OTLP/gRPC when the OTEL_* variables configure it; otherwise
// there are none.
func WithTracerProvider(provider trace.TracerProvider) ServerOption {
	return func(s *settings) { s.tracerProvider = provider }
}

// NewServer returns a server named name (letters, digits, "_", ".", "-"),
// which the bridge shows in its logs and metrics.
func NewServer(name string, opts ...ServerOption) *Server {
	return &Server{name: name, opts: opts, byName: map[string]*Action{}, options: map[fieldKey]FieldOptionsHandler{}}
}

// Name returns the server's name.
func (s *Server) Name() string { return s.name }

// Handle adds actions, in the order Jet shows them. It panics on a duplicate
// name, or once the server has started.
func (s *Server) Handle(actions ...*Action) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkOpen()
	for _, a := range actions {
		if _, dup := s.byName[a.Name()]; dup {
			panic(fmt.Sprintf("jetactions: duplicate action name %q", a.Name()))
		}
		s.byName[a.Name()] = a
		s.actions = append(s.actions, a)
	}
}

// HandleFieldOptions declares the handler that lists the options of the
// select field (model, field): an input tagged server_options of an action on
// model (model "" for a common action's). It panics on a duplicate.
func (s *Server) HandleFieldOptions(model, field string, h FieldOptionsHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkOpen()
	key := fieldKey{model, field}
	if _, dup := s.options[key]; dup {
		panic(fmt.Sprintf("jetactions: field options (%q, %q) are declared twice", model, field))
	}
	s.options[key] = h
	s.keyOrder = append(s.keyOrder, key)
}

func (s *Server) checkOpen() {
	if s.frozen {
		panic("jetactions: cannot declare more actions: server " + s.name + " has started")
	}
}

// settings resolves the environment under the options.
func (s *Server) settings() (settings, error) {
	resolved, err := fromEnv(os.Stderr)
	if err != nil {
		return resolved, err
	}
	for _, opt := range s.opts {
		opt(&resolved)
	}
	if resolved.maxMessageBytes <= 0 || resolved.grace < 0 {
		return resolved, errors.New("jetactions: the message limit must be positive and the grace not negative")
	}
	return resolved, nil
}

// service freezes the declarations and returns the ActionService over them.
func (s *Server) service(logger *slog.Logger) *service {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frozen = true
	listing := &pb.ListActionsResponse{ServerName: s.name}
	for _, a := range s.actions {
		listing.Actions = append(listing.Actions, a.desc)
	}
	for _, k := range s.keyOrder {
		listing.FieldOptions = append(listing.FieldOptions, &pb.FieldRef{Model: k.model, Field: k.field})
	}
	return &service{listing: listing, actions: s.byName, options: s.options, logger: logger}
}

// GRPCServer returns a grpc-go server with the ActionService, health and
// reflection registered and the server's settings applied (then opts), for
// callers that run it themselves (package jetactionstest does). Serve it on a
// listener; [Server.Serve] adds the graceful drain.
func (s *Server) GRPCServer(opts ...grpc.ServerOption) (*grpc.Server, error) {
	set, err := s.settings()
	if err != nil {
		return nil, err
	}
	set.grpcOptions = append(set.grpcOptions, opts...)
	gs, _, err := s.build(set)
	return gs, err
}

func (s *Server) build(set settings) (*grpc.Server, *healthServer, error) {
	watch, err := s.observer(set)
	if err != nil {
		return nil, nil, err
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(set.maxMessageBytes),
		grpc.MaxSendMsgSize(set.maxMessageBytes),
		// The bridge may ping idle connections every 10 s; half that as the
		// floor leaves room for timer jitter (more frequent pings earn strikes,
		// then GOAWAY "too_many_pings").
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		// Clients reconnect every few minutes and so re-resolve DNS: replicas
		// added behind a headless Service get traffic without a failure first.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: 5 * time.Minute, MaxConnectionAgeGrace: 30 * time.Second}),
	}
	if watch != nil {
		// First: it also sees the calls the secret check refuses.
		opts = append(opts, grpc.ChainUnaryInterceptor(watch.interceptor()))
	}
	if set.secret != "" {
		opts = append(opts, grpc.ChainUnaryInterceptor(secretInterceptor(set.secret)))
	}
	if set.tls != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(set.tls)))
	}
	opts = append(opts, set.grpcOptions...)
	gs := grpc.NewServer(opts...)
	pb.RegisterActionServiceServer(gs, s.service(set.logger.With("server", s.name)))
	hs := newHealthServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs) // v1 and v1alpha: grpcurl list works
	return gs, hs, nil
}

// observer returns what watches the calls, or nil when neither metrics nor
// traces are on: then calls pay nothing for them.
func (s *Server) observer(set settings) (*observer, error) {
	o := &observer{actions: map[string]bool{}, sources: map[string]bool{}}
	if set.metricsPort >= 0 {
		o.metrics = processMetrics()
	}
	if set.tracerProvider != nil {
		o.tracing = providerTracing(set.tracerProvider)
	} else {
		t, err := tracingFromEnv(s.name)
		if err != nil {
			return nil, err
		}
		o.tracing = t
	}
	if o.metrics == nil && o.tracing == nil {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range s.byName {
		o.actions[name] = true
	}
	for key := range s.options {
		o.sources[key.model+"."+key.field] = true
	}
	return o, nil
}

// secretInterceptor refuses ActionService calls without the shared secret.
// Health and reflection stay open for orchestrators and tools.
func secretInterceptor(secret string) grpc.UnaryServerInterceptor {
	prefix := "/" + ServiceName + "/"
	want := []byte(secret)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if strings.HasPrefix(info.FullMethod, prefix) {
			md, _ := metadata.FromIncomingContext(ctx)
			given := md.Get(SecretHeader)
			// Constant time, so that the secret cannot be guessed from timings.
			if len(given) != 1 || subtle.ConstantTimeCompare([]byte(given[0]), want) != 1 {
				return nil, status.Error(codes.Unauthenticated, "missing or wrong bridge secret")
			}
		}
		return next(ctx, req)
	}
}

// Serve serves on lis until ctx ends, then drains: health turns NOT_SERVING,
// calls are still accepted for half a second (clients that watch health move
// away meanwhile), then new calls are refused and those in flight get the
// grace period before they are cancelled. It returns nil after a drain.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	return s.serve(ctx, lis, nil)
}

// ListenAndServe listens on address (host:port; "" reads JETACTIONS_ADDRESS,
// else 127.0.0.1:50051; port 0 picks a free port) and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, address string) error {
	return s.listenAndServe(ctx, address, nil)
}

// Run is ListenAndServe until SIGTERM or SIGINT: the first signal drains, a
// second one stops at once. It is what a main function calls.
func (s *Server) Run(address string) error {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hurry := make(chan struct{})
	go func() {
		if _, ok := <-signals; !ok {
			return
		}
		cancel()
		if _, ok := <-signals; ok {
			close(hurry)
		}
	}()
	return s.listenAndServe(ctx, address, hurry)
}

func (s *Server) listenAndServe(ctx context.Context, address string, hurry <-chan struct{}) error {
	if address == "" {
		set, err := s.settings()
		if err != nil {
			return err
		}
		address = set.address
	}
	lis, err := net.Listen("tcp", address)
	if err != nil {
		return err
	}
	return s.serve(ctx, lis, hurry)
}

func (s *Server) serve(ctx context.Context, lis net.Listener, hurry <-chan struct{}) error {
	set, err := s.settings()
	if err != nil {
		lis.Close()
		return err
	}
	gs, hs, err := s.build(set)
	if err != nil {
		lis.Close()
		return err
	}
	logger := set.logger.With("server", s.name)
	var endpoint *metricsEndpoint
	if set.metricsPort >= 0 {
		host, _, _ := net.SplitHostPort(lis.Addr().String())
		if endpoint, err = serveMetrics(host, set.metricsPort); err != nil {
			lis.Close()
			return fmt.Errorf("cannot serve metrics on %s: %w", net.JoinHostPort(host, strconv.Itoa(set.metricsPort)), err)
		}
		defer endpoint.close()
	}
	defer flushSpans(set, logger)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	count := fmt.Sprintf("%d actions", len(s.actions))
	if len(s.actions) == 1 {
		count = "1 action"
	}
	logger.Info(fmt.Sprintf("serving on %s (%s)", lis.Addr(), count), "tls", set.tls != nil, "secret", set.secret != "")
	for _, missing := range s.missingSources() {
		logger.Warn("an input takes its options from the server, but no HandleFieldOptions serves them", "source", missing)
	}
	if endpoint != nil {
		logger.Info(fmt.Sprintf("metrics on http://%s/metrics", endpoint.addr))
	}
	select {
	case err := <-served:
		hs.shutdown()
		return err
	case <-ctx.Done():
	}
	logger.Info("draining: health NOT_SERVING, calls in flight get the grace period", "grace", set.grace)
	hs.shutdown()
	wait(min(drainDelay, set.grace/2), hurry)
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	timer := time.NewTimer(set.grace)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		logger.Warn("grace period over: cancelling the calls still running")
		gs.Stop()
	case <-hurry:
		logger.Warn("second signal: cancelling the calls still running")
		gs.Stop()
	}
	<-stopped
	logger.Info("stopped")
	return nil
}

// missingSources lists the (model, input) pairs that server_options inputs
// need and HandleFieldOptions does not serve: Jet would show them empty.
func (s *Server) missingSources() []string {
	var missing []string
	for _, a := range s.actions {
		models := a.desc.GetModelAction().GetModels()
		if len(models) == 0 {
			models = []string{""} // a common action's options are asked with model ""
		}
		for _, p := range a.desc.GetParams() {
			for _, m := range models {
				if _, ok := s.options[fieldKey{m, p.GetName()}]; p.GetOptionsFromServer() && !ok {
					missing = append(missing, fmt.Sprintf("(%q, %q) of action %s", m, p.GetName(), a.Name()))
				}
			}
		}
	}
	return missing
}

// flushSpans exports the spans still buffered when a server stops.
func flushSpans(set settings, logger *slog.Logger) {
	if set.tracerProvider != nil {
		return // the application's provider: the application flushes it
	}
	processTracingMu.Lock()
	t := processTracing
	processTracingMu.Unlock()
	if t == nil || t.flush == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.flush(ctx); err != nil {
		logger.Warn("could not export the last spans", "error", err)
	}
}

func wait(d time.Duration, hurry <-chan struct{}) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-hurry:
	}
}
