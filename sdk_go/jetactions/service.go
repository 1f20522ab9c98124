package jetactions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/jetbridge/jetbridge-grpc/sdk_go/gen/jetactions/v1"
)

// Metadata keys the bridge sends on every call (see actions.proto).
const (
	SecretHeader    = "x-jetbridge-secret"
	RequestIDHeader = "x-request-id"
)

// ServiceName is the full name of the ActionService, as health and
// reflection know it.
var ServiceName = pb.ActionService_ServiceDesc.ServiceName

type fieldKey struct{ model, field string }

// service implements pb.ActionServiceServer over a frozen set of actions.
type service struct {
	pb.UnimplementedActionServiceServer

	listing *pb.ListActionsResponse
	actions map[string]*Action
	options map[fieldKey]FieldOptionsHandler
	logger  *slog.Logger
}

func (s *service) ListActions(context.Context, *pb.ListActionsRequest) (*pb.ListActionsResponse, error) {
	return s.listing, nil
}

func (s *service) ExecuteAction(ctx context.Context, req *pb.ExecuteActionRequest) (*pb.ExecuteActionResponse, error) {
	a, ok := s.actions[req.GetAction()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown action %q", req.GetAction())
	}
	ids := make([]ID, 0, len(req.GetIds()))
	for _, v := range req.GetIds() {
		id, ok := idOf(v.AsInterface())
		if !ok {
			return nil, status.Error(codes.InvalidArgument, "ids must be numbers or strings")
		}
		ids = append(ids, id)
	}
	if a.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		// The caller gave up before the action started: do not start it.
		return nil, status.FromContextError(err).Err()
	}
	call, ctx := s.call(ctx, req.GetModel(), req.GetMessageParams().AsMap(), req.GetCaller(), "action", a.Name())
	start := time.Now()
	response, err := s.execute(ctx, a, call, req, ids)
	// One line per call, at debug level: cheap when off, and it carries the request id.
	Logger(ctx).Debug("action ran", "outcome", outcomeOf(response, err), "duration", time.Since(start))
	return response, err
}

func (s *service) execute(ctx context.Context, a *Action, call Call, req *pb.ExecuteActionRequest, ids []ID) (*pb.ExecuteActionResponse, error) {
	result, err := guard(ctx, func() (*Result, error) { return a.run(ctx, call, req, ids) })
	if err != nil {
		var fe *FieldErrors
		if errors.As(err, &fe) {
			return fe.proto(), nil
		}
		return nil, s.failure(ctx, err, "action "+a.Name())
	}
	response, err := result.proto()
	if err != nil {
		return nil, s.failure(ctx, err, "action "+a.Name())
	}
	return response, nil
}

// outcomeOf names a call's outcome for the log: result, errors, file or a status code.
func outcomeOf(response *pb.ExecuteActionResponse, err error) string {
	if err != nil {
		return status.Code(err).String()
	}
	switch response.GetOutcome().(type) {
	case *pb.ExecuteActionResponse_Errors:
		return "errors"
	case *pb.ExecuteActionResponse_File:
		return "file"
	}
	return "result"
}

func (s *service) GetFieldOptions(ctx context.Context, req *pb.GetFieldOptionsRequest) (*pb.GetFieldOptionsResponse, error) {
	h, ok := s.options[fieldKey{req.GetModel(), req.GetField()}]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no field options for model %q field %q", req.GetModel(), req.GetField())
	}
	what := fmt.Sprintf("field options %s.%s", req.GetModel(), req.GetField())
	call, ctx := s.call(ctx, req.GetModel(), req.GetMessageParams().AsMap(), req.GetCaller(), "field_options", what)
	fr := &FieldRequest{Call: call, Field: req.GetField(), Form: req.GetForm().AsMap()}
	options, err := guard(ctx, func() ([]Option, error) { return h(ctx, fr) })
	if err != nil {
		return nil, s.failure(ctx, err, what)
	}
	out, err := protoOptions(options)
	if err != nil {
		return nil, s.failure(ctx, err, what)
	}
	return &pb.GetFieldOptionsResponse{Options: out}, nil
}

// call gathers what the handler knows and puts a logger with the request id
// into the context.
func (s *service) call(ctx context.Context, model string, params map[string]any, caller *pb.Caller, key, name string) (Call, context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	md = md.Copy()
	md.Delete(SecretHeader) // handlers may log their metadata; the secret must never reach a log
	requestID := requestIDOf(md)
	logger := s.logger.With(key, name)
	if requestID != "" {
		logger = logger.With("request_id", requestID)
	}
	ctx = context.WithValue(ctx, loggerKey{}, logger)
	return Call{Model: model, Params: params, Caller: callerOf(caller), RequestID: requestID, Metadata: md}, ctx
}

// guard runs a handler and turns a panic into an error, so that one bad
// call does not take the server down.
func guard[T any](ctx context.Context, run func() (T, error)) (result T, err error) {
	defer func() {
		if p := recover(); p != nil {
			Logger(ctx).Error("handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = errPanicked
		}
	}()
	return run()
}

var errPanicked = errors.New("handler panicked")

// failure maps a handler's error to the status the caller sees. Unexpected
// errors stay in the log: they may hold data the caller must not see.
func (s *service) failure(ctx context.Context, err error, what string) error {
	var e *Error
	if errors.As(err, &e) {
		return e.GRPCStatus().Err()
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return st.Err()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, what+" ran out of time")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, what+" was cancelled")
	}
	if !errors.Is(err, errPanicked) {
		Logger(ctx).Error(what+" failed", "error", err)
	}
	return status.Error(codes.Internal, what+" failed")
}
