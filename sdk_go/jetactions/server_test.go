package jetactions_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/jetbridge/jetbridge-grpc/sdk_go/gen/jetactions/v1"
	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions"
)

// syncBuffer collects log lines written from the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is a server on a loopback port, served by Serve until stop.
type running struct {
	addr string
	logs *syncBuffer
	stop context.CancelFunc
	done chan error
}

var servingLine = regexp.MustCompile(`serving on ([\d.]+:\d+)`)

// serve starts srv on 127.0.0.1:0 and waits for its "serving on" line.
func serve(t *testing.T, srv func(opts ...jetactions.ServerOption) *jetactions.Server, opts ...jetactions.ServerOption) *running {
	t.Helper()
	logs := &syncBuffer{}
	logger := slogJSON(logs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{logs: logs, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv(append(opts, jetactions.WithLogger(logger))...).Serve(ctx, lis) }()
	deadline := time.Now().Add(10 * time.Second)
	for r.addr == "" {
		if m := servingLine.FindStringSubmatch(logs.String()); m != nil {
			r.addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no serving line: %s", logs)
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// slowServer has an action that runs until released, to watch a drain.
type slowServer struct {
	started, release chan struct{}
}

func (s *slowServer) new(opts ...jetactions.ServerOption) *jetactions.Server {
	srv := jetactions.NewServer("slow", opts...)
	srv.Handle(
		jetactions.CommonAction("slow", func(ctx context.Context, req *jetactions.Request[struct{}]) (*jetactions.Result, error) {
			close(s.started)
			select {
			case <-s.release:
				return jetactions.Message("done"), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}),
		jetactions.CommonAction("fail", func(ctx context.Context, req *jetactions.Request[struct{}]) (*jetactions.Result, error) {
			jetactions.Logger(ctx).Info("about to fail")
			return nil, net.ErrClosed
		}),
		jetactions.CommonAction("echo", func(ctx context.Context, req *jetactions.Request[struct{}]) (*jetactions.Result, error) {
			return &jetactions.Result{Value: req.Inputs["blob"]}, nil
		}),
	)
	return srv
}

func newSlow() *slowServer {
	return &slowServer{started: make(chan struct{}), release: make(chan struct{})}
}

func dial(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestHealthAndReflection(t *testing.T) {
	r := serve(t, newSlow().new)
	conn := dial(t, r.addr, nil)
	health := healthpb.NewHealthClient(conn)
	for _, service := range []string{"", "jetactions.v1.ActionService"} {
		reply, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil || reply.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v %v", service, reply, err)
		}
	}
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	reply, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range reply.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !strings.Contains(strings.Join(names, " "), "jetactions.v1.ActionService") {
		t.Errorf("reflection lists %v", names)
	}
	listing, err := pb.NewActionServiceClient(conn).ListActions(context.Background(), &pb.ListActionsRequest{})
	if err != nil || listing.GetServerName() != "slow" {
		t.Errorf("server_name: %v %v", listing, err)
	}
}

func TestMissingOptionsSource(t *testing.T) {
	r := serve(t, func(opts ...jetactions.ServerOption) *jetactions.Server {
		srv := jetactions.NewServer("forms", opts...)
		srv.Handle(everything) // its city input takes options from the server; none serves them
		return srv
	})
	if !strings.Contains(r.logs.String(), `(\"things\", \"city\") of action everything`) {
		t.Errorf("no warning in %s", r.logs)
	}
}

func TestSecret(t *testing.T) {
	r := serve(t, newSlow().new, jetactions.WithSecret("s3cret"))
	conn := dial(t, r.addr, nil)
	stub := pb.NewActionServiceClient(conn)
	tests := []struct {
		name string
		md   metadata.MD
		want codes.Code
	}{
		{"none", metadata.MD{}, codes.Unauthenticated},
		{"wrong", metadata.Pairs("x-jetbridge-secret", "guess"), codes.Unauthenticated},
		{"prefix", metadata.Pairs("x-jetbridge-secret", "s3cre"), codes.Unauthenticated},
		{"right", metadata.Pairs("x-jetbridge-secret", "s3cret"), codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := stub.ListActions(metadata.NewOutgoingContext(context.Background(), tt.md), &pb.ListActionsRequest{})
			if status.Code(err) != tt.want {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Health stays open for orchestrators.
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health without the secret: %v", err)
	}
}

func TestSecretFromEnvironment(t *testing.T) {
	tests := []struct {
		name, env, value, wantErr string
	}{
		{"empty", "JETBRIDGE_SECRET", "", "JETBRIDGE_SECRET is set but empty"},
		{"old name", "JETACTIONS_BRIDGE_SECRET", "x", "name the shared secret JETBRIDGE_SECRET"},
		{"bad format", "JETACTIONS_LOG_FORMAT", "xml", "use text or json"},
		{"bad grace", "JETACTIONS_GRACE", "soon", "not a number of seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			err := jetactions.NewServer("x").ListenAndServe(context.Background(), "127.0.0.1:0")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
	t.Run("set", func(t *testing.T) {
		t.Setenv("JETBRIDGE_SECRET", "from-env")
		r := serve(t, newSlow().new)
		stub := pb.NewActionServiceClient(dial(t, r.addr, nil))
		if _, err := stub.ListActions(context.Background(), &pb.ListActionsRequest{}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("without the secret: %v", err)
		}
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-jetbridge-secret", "from-env")
		if _, err := stub.ListActions(ctx, &pb.ListActionsRequest{}); err != nil {
			t.Errorf("with the secret: %v", err)
		}
	})
}

func TestDrain(t *testing.T) {
	slow := newSlow()
	r := serve(t, slow.new, jetactions.WithGrace(5*time.Second))
	conn := dial(t, r.addr, nil)
	health := healthpb.NewHealthClient(conn)
	watch, err := health.Watch(context.Background(), &healthpb.HealthCheckRequest{Service: "jetactions.v1.ActionService"})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := watch.Recv(); err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch: %v %v", first, err)
	}
	result := make(chan error, 1)
	go func() {
		_, err := pb.NewActionServiceClient(conn).ExecuteAction(context.Background(), &pb.ExecuteActionRequest{Action: "slow"})
		result <- err
	}()
	<-slow.started
	r.stop()
	// The watcher learns NOT_SERVING, then its stream ends, so it does not hold the drain.
	if update, err := watch.Recv(); err != nil || update.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch after stop: %v %v", update, err)
	}
	if _, err := watch.Recv(); err == nil {
		t.Error("the watch stream did not end")
	}
	close(slow.release)
	if err := <-result; err != nil {
		t.Errorf("the call in flight: %v", err)
	}
	if err := <-r.done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	r.done <- nil // for the cleanup
	logs := r.logs.String()
	for _, line := range []string{"draining", `"msg":"stopped"`} {
		if !strings.Contains(logs, line) {
			t.Errorf("no %q line in %s", line, logs)
		}
	}
}

func TestGraceOver(t *testing.T) {
	slow := newSlow()
	r := serve(t, slow.new, jetactions.WithGrace(100*time.Millisecond))
	conn := dial(t, r.addr, nil)
	result := make(chan error, 1)
	go func() {
		_, err := pb.NewActionServiceClient(conn).ExecuteAction(context.Background(), &pb.ExecuteActionRequest{Action: "slow"})
		result <- err
	}()
	<-slow.started
	r.stop()
	if err := <-result; status.Code(err) == codes.OK {
		t.Errorf("a call past the grace period completed")
	}
	if !strings.Contains(r.logs.String(), "grace period over") {
		t.Errorf("logs: %s", r.logs)
	}
}

func TestRequestIDAndInternal(t *testing.T) {
	r := serve(t, newSlow().new)
	stub := pb.NewActionServiceClient(dial(t, r.addr, nil))
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-request-id", "req-42")
	_, err := stub.ExecuteAction(ctx, &pb.ExecuteActionRequest{Action: "fail"})
	if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "action fail failed" {
		t.Errorf("got %v", err)
	}
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.logs.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		lines = append(lines, entry)
	}
	var seen int
	for _, entry := range lines {
		if entry["msg"] == "about to fail" || entry["msg"] == "action fail failed" {
			seen++
			if entry["request_id"] != "req-42" {
				t.Errorf("no request id: %v", entry)
			}
		}
	}
	for _, entry := range lines {
		if entry["msg"] == "action ran" {
			seen++
			if entry["request_id"] != "req-42" || entry["outcome"] != "Internal" || entry["action"] != "fail" {
				t.Errorf("the call's line: %v", entry)
			}
		}
	}
	if seen != 3 {
		t.Errorf("handler, failure and call lines: %d in %v", seen, lines)
	}
}

func TestMessageSize(t *testing.T) {
	r := serve(t, newSlow().new, jetactions.WithMaxMessageBytes(64<<10))
	stub := pb.NewActionServiceClient(dial(t, r.addr, nil))
	call := func(size int) error {
		inputs, _ := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", size)})
		_, err := stub.ExecuteAction(context.Background(), &pb.ExecuteActionRequest{Action: "echo", Inputs: inputs})
		return err
	}
	if err := call(32 << 10); err != nil {
		t.Errorf("32 KiB: %v", err)
	}
	if err := call(128 << 10); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("128 KiB: %v", err)
	}
}

func TestTLS(t *testing.T) {
	ca, caKey := newCA(t)
	serverCert := issue(t, ca, caKey, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	clientCert := issue(t, ca, caKey, "bridge", x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	mutual := &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	r := serve(t, newSlow().new, jetactions.WithTLS(mutual))
	tests := []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"with a client certificate", []tls.Certificate{clientCert}, true},
		{"without", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: tt.certs, ServerName: "127.0.0.1"})
			_, err := pb.NewActionServiceClient(dial(t, r.addr, creds)).ListActions(context.Background(), &pb.ListActionsRequest{})
			if (err == nil) != tt.ok {
				t.Errorf("got %v", err)
			}
		})
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return ca, key
}

func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, usage x509.ExtKeyUsage) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if ip := net.ParseIP(name); ip != nil {
		template.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
