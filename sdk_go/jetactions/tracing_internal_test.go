package jetactions

import (
	"strings"
	"testing"
)

func TestTracesAreOnOnlyWhenTheEnvironmentAsks(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, false},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, false},
	}
	for _, tt := range tests {
		for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"} {
			t.Setenv(name, tt.env[name])
		}
		if got := tracesConfigured(); got != tt.want {
			t.Errorf("%v: configured %v", tt.env, got)
		}
	}
}

func TestExportersOtherThanOTLPOverGRPCAreRefused(t *testing.T) {
	tests := []struct{ name, value, message string }{
		{"OTEL_TRACES_EXPORTER", "console", `OTEL_TRACES_EXPORTER="console" is not supported, only otlp`},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", `OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf" is not supported, only grpc`},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json", `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/json" is not supported, only grpc`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.name, tt.value)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
			srv := NewServer("refused")
			_, err := srv.GRPCServer()
			if err == nil || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %v, want %s", err, tt.message)
			}
		})
	}
}

func TestMetricsPortFromTheEnvironment(t *testing.T) {
	t.Setenv("JETACTIONS_METRICS_PORT", "9464")
	if s, err := fromEnv(&strings.Builder{}); err != nil || s.metricsPort != 9464 {
		t.Errorf("metrics port %d, %v", s.metricsPort, err)
	}
	t.Setenv("JETACTIONS_METRICS_PORT", "http")
	if _, err := fromEnv(&strings.Builder{}); err == nil || !strings.Contains(err.Error(), "JETACTIONS_METRICS_PORT") {
		t.Errorf("error %v", err)
	}
}

func TestWithoutMetricsOrTracesNothingWatchesTheCalls(t *testing.T) {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"} {
		t.Setenv(name, "")
	}
	o, err := NewServer("quiet").observer(settings{metricsPort: -1})
	if err != nil || o != nil {
		t.Errorf("observer %v, %v: calls would pay for it", o, err)
	}
}
