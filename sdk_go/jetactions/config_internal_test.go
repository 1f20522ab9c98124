package jetactions

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSettingsFromEnvironment(t *testing.T) {
	t.Setenv("JETACTIONS_ADDRESS", "127.0.0.1:50999")
	t.Setenv("JETACTIONS_MAX_MESSAGE_BYTES", "1048576")
	t.Setenv("JETACTIONS_GRACE", "2.5")
	t.Setenv("JETACTIONS_LOG_FORMAT", "json")
	t.Setenv("JETACTIONS_LOG_LEVEL", "warn")
	t.Setenv("JETBRIDGE_SECRET", "s")
	var logs bytes.Buffer
	s, err := fromEnv(&logs)
	if err != nil {
		t.Fatal(err)
	}
	if s.address != "127.0.0.1:50999" || s.maxMessageBytes != 1<<20 || s.grace != 2500*time.Millisecond || s.secret != "s" || s.tls != nil {
		t.Errorf("settings %+v", s)
	}
	s.logger.Info("hidden")
	s.logger.Warn("shown")
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line["msg"] != "shown" {
		t.Errorf("logs %q", logs.String())
	}
	// An option wins over the environment.
	srv := NewServer("x", WithSecret(""), WithGrace(time.Second))
	if resolved, err := srv.settings(); err != nil || resolved.secret != "" || resolved.grace != time.Second {
		t.Errorf("options over environment: %+v %v", resolved, err)
	}
}

func TestDefaults(t *testing.T) {
	s, err := fromEnv(&bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if s.address != DefaultAddress || s.maxMessageBytes != 16<<20 || s.grace != 10*time.Second || s.secret != "" {
		t.Errorf("defaults %+v", s)
	}
}

func TestTLSFilesFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir)
	tests := []struct {
		name, cert, key, ca string
		wantErr             string
		mutual              bool
	}{
		{"server TLS", cert, key, "", "", false},
		{"mutual TLS", cert, key, cert, "", true},
		{"key missing", cert, "", "", "needs both a certificate and a key", false},
		{"not a CA file", cert, key, key, "no certificate", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("JETACTIONS_TLS_CERT_FILE", tt.cert)
			t.Setenv("JETACTIONS_TLS_KEY_FILE", tt.key)
			t.Setenv("JETACTIONS_TLS_CLIENT_CA_FILE", tt.ca)
			s, err := fromEnv(&bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || s.tls == nil || (s.tls.ClientAuth == tls.RequireAndVerifyClientCert) != tt.mutual {
				t.Errorf("tls %+v %v", s.tls, err)
			}
		})
	}
}

func writePair(t *testing.T, dir string) (string, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile
}

func TestFormatNumber(t *testing.T) {
	tests := map[float64]string{1: "1", -2: "-2", 1.5: "1.5", 1e20: "100000000000000000000", 1e21: "1e+21", 1e-7: "1e-07"}
	for in, want := range tests {
		if got := formatNumber(in); got != want {
			t.Errorf("formatNumber(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestSnakeCase(t *testing.T) {
	tests := map[string]string{"UserName": "user_name", "UserID": "user_id", "ID": "id", "HTTPServer": "http_server", "A": "a"}
	for in, want := range tests {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecimal(t *testing.T) {
	tests := []struct{ in, want string }{{"2.50", "2.5"}, {"-1e3", "-1000"}, {".5", "0.5"}, {"1e-400", ""}}
	for _, tt := range tests {
		d, ok := ParseDecimal(tt.in)
		if !ok {
			t.Fatalf("ParseDecimal(%q) failed", tt.in)
		}
		if tt.want != "" && d.String() != tt.want {
			t.Errorf("%q: %s, want %s", tt.in, d, tt.want)
		}
	}
	if d, _ := ParseDecimal("1e-400"); d.Sign() != 1 {
		t.Error("1e-400 is positive")
	}
	for _, bad := range []string{"nan", "inf", "0x10", "1_000", "", "ten"} {
		if _, ok := ParseDecimal(bad); ok {
			t.Errorf("ParseDecimal(%q) succeeded", bad)
		}
	}
	if got := MustDecimal("10.00").Add(MustDecimal("0.1")).StringFixed(2); got != "10.10" {
		t.Errorf("sum %s", got)
	}
}
