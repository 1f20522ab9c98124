// Package jetactionstest calls a jetactions.Server's actions from unit
// tests: in-process, through a real gRPC stub over an in-memory connection
// (bufconn), so that the tests see what the bridge would see.
package jetactionstest

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/jetbridge/jetbridge-grpc/sdk_go/gen/jetactions/v1"
	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions"
)

// Client plays the bridge in front of one server.
type Client struct {
	// Stub is the generated client, for calls the helpers do not cover.
	Stub pb.ActionServiceClient
	// Conn is the in-memory connection, for other services (health).
	Conn *grpc.ClientConn

	server *grpc.Server
}

// New serves srv on an in-memory listener until the test ends and returns a
// client of it. The server's settings apply, TLS excepted.
func New(t testing.TB, srv *jetactions.Server) *Client {
	t.Helper()
	c, err := Start(srv)
	if err != nil {
		t.Fatalf("jetactionstest: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Start is New outside a test: the caller closes the client.
func Start(srv *jetactions.Server) (*Client, error) {
	gs, err := srv.GRPCServer(grpc.Creds(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	lis := bufconn.Listen(1 << 20)
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		gs.Stop()
		return nil, err
	}
	return &Client{Stub: pb.NewActionServiceClient(conn), Conn: conn, server: gs}, nil
}

// Close ends the connection and stops the server.
func (c *Client) Close() {
	c.Conn.Close()
	c.server.Stop()
}

// A CallOption sets part of the request: [Model], [IDs], [InverseIDs],
// [Inputs], [Params], [Caller], [Metadata].
type CallOption func(*call)

type call struct {
	execute *pb.ExecuteActionRequest
	params  map[string]any
	caller  *jetactions.Caller
	md      metadata.MD
	err     error
}

// Model sets the collection the action runs on.
func Model(model string) CallOption { return func(c *call) { c.execute.Model = model } }

// IDs sets the selected record ids: numbers or strings, as Jet sends them.
func IDs(ids ...any) CallOption {
	return func(c *call) {
		for _, id := range ids {
			if n, ok := id.(int); ok {
				id = float64(n)
			}
			v, err := structpb.NewValue(id)
			if err != nil {
				c.err = err
			}
			c.execute.Ids = append(c.execute.Ids, v)
		}
	}
}

// InverseIDs targets every record except the ids.
func InverseIDs() CallOption { return func(c *call) { c.execute.InverseIds = true } }

// Inputs sets the form's inputs (JSON values).
func Inputs(inputs map[string]any) CallOption {
	return func(c *call) {
		s, err := structpb.NewStruct(inputs)
		c.execute.Inputs, c.err = s, err
	}
}

// Params sets the message's whole params object.
func Params(params map[string]any) CallOption { return func(c *call) { c.params = params } }

// Caller sets who is calling.
func Caller(caller *jetactions.Caller) CallOption { return func(c *call) { c.caller = caller } }

// Metadata adds request metadata, such as x-request-id or x-jetbridge-secret.
func Metadata(key, value string) CallOption { return func(c *call) { c.md.Append(key, value) } }

func build(opts []CallOption) (*call, error) {
	c := &call{execute: &pb.ExecuteActionRequest{}, md: metadata.MD{}}
	for _, opt := range opts {
		opt(c)
	}
	if c.params != nil {
		s, err := structpb.NewStruct(c.params)
		if err != nil {
			return nil, err
		}
		c.execute.MessageParams = s
	}
	c.execute.Caller = jetactions.CallerProto(c.caller)
	return c, c.err
}

// Execute runs an action. A field-errors outcome comes back as a
// *jetactions.FieldErrors error, a gRPC status as a *jetactions.Error.
func (c *Client) Execute(ctx context.Context, action string, opts ...CallOption) (*jetactions.Result, error) {
	req, err := build(opts)
	if err != nil {
		return nil, err
	}
	req.execute.Action = action
	resp, err := c.Stub.ExecuteAction(metadata.NewOutgoingContext(ctx, req.md), req.execute)
	if err != nil {
		return nil, statusError(err)
	}
	switch outcome := resp.GetOutcome().(type) {
	case *pb.ExecuteActionResponse_Errors:
		fe := &jetactions.FieldErrors{NonField: outcome.Errors.GetNonFieldErrors()}
		for name, list := range outcome.Errors.GetFields() {
			for _, m := range list.GetMessages() {
				fe.Add(name, m)
			}
		}
		return nil, fe
	case *pb.ExecuteActionResponse_File:
		f := outcome.File
		return jetactions.Download(f.GetFilename(), f.GetContentType(), f.GetContent()), nil
	case *pb.ExecuteActionResponse_Result:
		r := outcome.Result
		return &jetactions.Result{
			Value: r.GetValue().AsInterface(), Message: r.GetMessage(), HTML: r.GetHtml(),
			Extra: r.GetExtra().AsMap(),
		}, nil
	}
	return nil, jetactions.Errorf(codes.Internal, "the response has no outcome")
}

// FieldOptions asks for the options of (model, field) given the form.
func (c *Client) FieldOptions(ctx context.Context, model, field string, form map[string]any, opts ...CallOption) ([]jetactions.Option, error) {
	req, err := build(opts)
	if err != nil {
		return nil, err
	}
	f, err := structpb.NewStruct(form)
	if err != nil {
		return nil, err
	}
	resp, err := c.Stub.GetFieldOptions(metadata.NewOutgoingContext(ctx, req.md), &pb.GetFieldOptionsRequest{
		Model: model, Field: field, Form: f, MessageParams: req.execute.GetMessageParams(), Caller: req.execute.GetCaller(),
	})
	if err != nil {
		return nil, statusError(err)
	}
	var options []jetactions.Option
	for _, o := range resp.GetOptions() {
		options = append(options, jetactions.Option{Value: o.GetValue().AsInterface(), Name: o.GetName(), Color: o.GetColor()})
	}
	return options, nil
}

// ListActions returns the server's listing.
func (c *Client) ListActions(ctx context.Context) (*pb.ListActionsResponse, error) {
	resp, err := c.Stub.ListActions(ctx, &pb.ListActionsRequest{})
	if err != nil {
		return nil, statusError(err)
	}
	return resp, nil
}

func statusError(err error) error {
	st := status.Convert(err)
	return jetactions.Errorf(st.Code(), "%s", st.Message())
}
