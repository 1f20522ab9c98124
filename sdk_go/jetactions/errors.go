package jetactions

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/jetbridge/jetbridge-grpc/sdk_go/gen/jetactions/v1"
)

// NonFieldErrors is the key Jet uses for errors that belong to no input.
const NonFieldErrors = "non_field_errors"

// FieldErrors are validation errors that Jet Admin shows on the action's
// form. A handler returns them as its error; the SDK returns them for inputs
// that fail validation, before the handler runs.
type FieldErrors struct {
	// Fields holds messages per input name.
	Fields map[string][]string
	// NonField holds messages not tied to one input.
	NonField []string
}

// FieldError returns the errors made of one message on one input.
func FieldError(field, message string) *FieldErrors {
	return (&FieldErrors{}).Add(field, message)
}

// NonFieldError returns errors not tied to any input.
func NonFieldError(messages ...string) *FieldErrors {
	return &FieldErrors{NonField: messages}
}

// Add appends a message on one input (NonFieldErrors for none) and returns e.
func (e *FieldErrors) Add(field, message string) *FieldErrors {
	if field == NonFieldErrors {
		e.NonField = append(e.NonField, message)
		return e
	}
	if e.Fields == nil {
		e.Fields = map[string][]string{}
	}
	e.Fields[field] = append(e.Fields[field], message)
	return e
}

// Error lists the messages, inputs in name order.
func (e *FieldErrors) Error() string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(e.Fields)) {
		parts = append(parts, name+": "+strings.Join(e.Fields[name], " "))
	}
	if len(e.NonField) > 0 {
		parts = append(parts, strings.Join(e.NonField, " "))
	}
	return "field errors: " + strings.Join(parts, "; ")
}

func (e *FieldErrors) proto() *pb.ExecuteActionResponse {
	out := &pb.FieldErrors{NonFieldErrors: e.NonField, Fields: map[string]*pb.ErrorList{}}
	for name, messages := range e.Fields {
		out.Fields[name] = &pb.ErrorList{Messages: messages}
	}
	return &pb.ExecuteActionResponse{Outcome: &pb.ExecuteActionResponse_Errors{Errors: out}}
}

// Error ends a call with a gRPC status instead of an outcome; the bridge maps
// the code to an HTTP status for Jet Admin (see the README's "Errors"). Read
// the code back with errors.As or status.Code.
type Error struct {
	code    codes.Code
	message string
}

// Errorf returns an Error with code and a formatted message the caller sees.
func Errorf(code codes.Code, format string, args ...any) *Error {
	return &Error{code: code, message: fmt.Sprintf(format, args...)}
}

// Code returns the gRPC status code.
func (e *Error) Code() codes.Code { return e.code }

// Message returns the status message.
func (e *Error) Message() string { return e.message }

func (e *Error) Error() string {
	if e.message == "" {
		return e.code.String()
	}
	return e.code.String() + ": " + e.message
}

// GRPCStatus makes the error a status for grpc-go and status.FromError.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.code, e.message) }
