package jetactions

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// Defaults of the server settings.
const (
	DefaultAddress         = "127.0.0.1:50051"
	DefaultMaxMessageBytes = 16 << 20
	DefaultGrace           = 10 * time.Second
	// drainDelay is how long a draining server keeps accepting calls after it
	// reports NOT_SERVING, so that calls already sent by health-watching
	// clients are served rather than refused.
	drainDelay = 500 * time.Millisecond
)

// settings are the server's resolved settings: options over environment.
type settings struct {
	address         string
	secret          string
	tls             *tls.Config
	maxMessageBytes int
	grace           time.Duration
	logger          *slog.Logger
	grpcOptions     []grpc.ServerOption
	metricsPort     int                  // -1: no metrics endpoint
	tracerProvider  trace.TracerProvider // nil: from the OTEL_* variables
}

// lookup reads one environment variable.
var lookup = os.LookupEnv

// fromEnv reads the JETACTIONS_* settings and JETBRIDGE_SECRET; explicit
// options are applied over them by the caller.
func fromEnv(stderr io.Writer) (settings, error) {
	s := settings{address: DefaultAddress, maxMessageBytes: DefaultMaxMessageBytes, grace: DefaultGrace, metricsPort: -1}
	if _, old := lookup("JETACTIONS_BRIDGE_SECRET"); old {
		return s, errors.New("JETACTIONS_BRIDGE_SECRET is no longer read: name the shared secret JETBRIDGE_SECRET")
	}
	if secret, ok := lookup("JETBRIDGE_SECRET"); ok {
		if secret == "" {
			return s, errors.New("JETBRIDGE_SECRET is set but empty: unset it, or set the shared secret")
		}
		s.secret = secret
	}
	if v, ok := lookup("JETACTIONS_ADDRESS"); ok && v != "" {
		s.address = v
	}
	if v, ok := lookup("JETACTIONS_MAX_MESSAGE_BYTES"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return s, fmt.Errorf("JETACTIONS_MAX_MESSAGE_BYTES=%q: not a positive whole number", v)
		}
		s.maxMessageBytes = n
	}
	if v, ok := lookup("JETACTIONS_GRACE"); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return s, fmt.Errorf("JETACTIONS_GRACE=%q: not a number of seconds", v)
		}
		s.grace = time.Duration(f * float64(time.Second))
	}
	if v, ok := lookup("JETACTIONS_METRICS_PORT"); ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			return s, fmt.Errorf("JETACTIONS_METRICS_PORT=%q: not a port number (0 picks one)", v)
		}
		s.metricsPort = n
	}
	cert, _ := lookup("JETACTIONS_TLS_CERT_FILE")
	key, _ := lookup("JETACTIONS_TLS_KEY_FILE")
	ca, _ := lookup("JETACTIONS_TLS_CLIENT_CA_FILE")
	if cert != "" || key != "" || ca != "" {
		config, err := TLSFromFiles(cert, key, ca)
		if err != nil {
			return s, err
		}
		s.tls = config
	}
	logger, err := loggerFromEnv(stderr)
	s.logger = logger
	return s, err
}

func loggerFromEnv(w io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if v, ok := lookup("JETACTIONS_LOG_LEVEL"); ok && v != "" {
		if err := level.UnmarshalText([]byte(strings.ToUpper(v))); err != nil {
			return nil, fmt.Errorf("JETACTIONS_LOG_LEVEL=%q: use debug, info, warn or error", v)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch v, _ := lookup("JETACTIONS_LOG_FORMAT"); v {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("JETACTIONS_LOG_FORMAT=%q: use text or json", v)
	}
}

// TLSFromFiles returns a server TLS configuration from PEM files; with a
// client CA file, clients must present a certificate it signed (mutual TLS).
func TLSFromFiles(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("TLS needs both a certificate and a key file (JETACTIONS_TLS_CERT_FILE, JETACTIONS_TLS_KEY_FILE)")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	config := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS client CA: no certificate in %s", clientCAFile)
		}
		config.ClientCAs, config.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return config, nil
}
