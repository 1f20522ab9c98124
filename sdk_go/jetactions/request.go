package jetactions

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/jetbridge/jetbridge-grpc/sdk_go/gen/jetactions/v1"
)

// Call is what every handler knows about the call it serves, besides the
// context (whose deadline is the caller's, bounded by the action's timeout).
type Call struct {
	// Model is the collection the call is about; empty for common actions.
	Model string
	// Params is the message's whole `params` object as Jet sent it.
	Params map[string]any
	// Caller says who asked the bridge; nil when the bridge sent nothing.
	Caller *Caller
	// RequestID is the bridge's x-request-id, for log lines.
	RequestID string
	// Metadata is the call's gRPC metadata, without the shared secret.
	Metadata metadata.MD
}

// Request is one run of an action whose inputs are the struct In.
type Request[In any] struct {
	Call
	// Action is the action's name.
	Action string
	// Input holds the validated, converted inputs.
	Input In
	// IDs are the selected records, each keeping its JSON type.
	IDs []ID
	// InverseIDs means the action targets every record except IDs.
	InverseIDs bool
	// Inputs are the form's inputs exactly as received, declared or not.
	Inputs map[string]any
}

// ID returns the first selected id, the record of a per-record action.
func (r *Request[In]) ID() (ID, bool) {
	if len(r.IDs) == 0 {
		return ID{}, false
	}
	return r.IDs[0], true
}

// FieldRequest asks for the options of one select field.
type FieldRequest struct {
	Call
	// Field is the select field's name.
	Field string
	// Form holds the values currently typed into the form.
	Form map[string]any
}

// Caller says who asked the bridge, as far as the bridge knows.
type Caller struct {
	// AuthMethod is "jwt", "user_token", "project_token", "bearer", or ""
	// when unknown or when the bridge runs without authentication.
	AuthMethod string
	// UserID and UserEmail identify the Jet Admin user, when known.
	UserID, UserEmail string
	// Project and Environment name the Jet Admin project.
	Project, Environment string
	// Token is the raw credential; empty unless the bridge forwards it.
	Token string
	// Claims holds every claim of a verified JWT.
	Claims map[string]any
}

var authMethods = map[pb.AuthMethod]string{
	pb.AuthMethod_AUTH_METHOD_JWT:           "jwt",
	pb.AuthMethod_AUTH_METHOD_USER_TOKEN:    "user_token",
	pb.AuthMethod_AUTH_METHOD_PROJECT_TOKEN: "project_token",
	pb.AuthMethod_AUTH_METHOD_BEARER:        "bearer",
}

func callerOf(c *pb.Caller) *Caller {
	if c == nil {
		return nil
	}
	return &Caller{
		AuthMethod: authMethods[c.GetAuthMethod()], UserID: c.GetUserId(), UserEmail: c.GetUserEmail(),
		Project: c.GetProject(), Environment: c.GetEnvironment(), Token: c.GetToken(),
		Claims: c.GetClaims().AsMap(),
	}
}

// CallerProto is the protobuf form of c, for clients that play the bridge
// (package jetactionstest).
func CallerProto(c *Caller) *pb.Caller {
	if c == nil {
		return nil
	}
	out := &pb.Caller{
		UserId: c.UserID, UserEmail: c.UserEmail, Project: c.Project,
		Environment: c.Environment, Token: c.Token,
	}
	if claims, err := structpb.NewStruct(c.Claims); err == nil && len(c.Claims) > 0 {
		out.Claims = claims
	}
	for method, name := range authMethods {
		if name == c.AuthMethod {
			out.AuthMethod = method
		}
	}
	return out
}

type loggerKey struct{}

// Logger returns the server's logger with the call's request id and action,
// for the handler's own log lines; slog.Default() outside a call.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
