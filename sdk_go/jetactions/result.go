package jetactions

import (
	"fmt"

	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/jetbridge/jetbridge-grpc/sdk_go/gen/jetactions/v1"
)

// Result is the outcome of a successful run. A nil *Result, like a Result
// with no Value, means {"result": true}.
type Result struct {
	// Value is Jet's `result` value (any JSON value); nil means true.
	Value any
	// Message is a plain text message shown to the user.
	Message string
	// HTML is shown to the user instead of Message.
	HTML string
	// Extra keys are merged into the JSON object Jet receives.
	Extra map[string]any
	// File, when set, makes the outcome a download; the other fields are
	// then ignored.
	File *File
}

// File is a download returned by an action.
type File struct {
	// Filename is the name the browser saves the file under.
	Filename string
	// ContentType is the MIME type; empty means application/octet-stream.
	ContentType string
	// Content is the file's bytes.
	Content []byte
}

// Option is one choice of a select field.
type Option struct {
	// Value is stored when the option is picked: a string, number or bool.
	Value any
	// Name is shown for the option.
	Name string
	// Color is the option's badge colour (a CSS colour or Jet colour name).
	Color string
}

// Message returns a result that shows a plain text message.
func Message(format string, args ...any) *Result {
	return &Result{Message: fmt.Sprintf(format, args...)}
}

// HTML returns a result that shows an HTML message; escape what you insert.
func HTML(html string) *Result { return &Result{HTML: html} }

// Value returns a result whose `result` is v.
func Value(v any) *Result { return &Result{Value: v} }

// Download returns a result that makes the browser download a file.
func Download(filename, contentType string, content []byte) *Result {
	return &Result{File: &File{Filename: filename, ContentType: contentType, Content: content}}
}

func (r *Result) proto() (*pb.ExecuteActionResponse, error) {
	if r == nil {
		r = &Result{}
	}
	if f := r.File; f != nil {
		return &pb.ExecuteActionResponse{Outcome: &pb.ExecuteActionResponse_File{File: &pb.File{
			Filename: f.Filename, ContentType: f.ContentType, Content: f.Content,
		}}}, nil
	}
	value := r.Value
	if value == nil {
		value = true
	}
	shown, err := jsonValue(value)
	if err != nil {
		return nil, fmt.Errorf("result value: %w", err)
	}
	v, err := structpb.NewValue(shown)
	if err != nil {
		return nil, fmt.Errorf("result value: %w", err)
	}
	result := &pb.Result{Value: v}
	if r.Message != "" {
		result.Message = &r.Message
	}
	if r.HTML != "" {
		result.Html = &r.HTML
	}
	if len(r.Extra) > 0 {
		extra, err := jsonValue(r.Extra)
		if err != nil {
			return nil, fmt.Errorf("result extra: %w", err)
		}
		if result.Extra, err = structpb.NewStruct(extra.(map[string]any)); err != nil {
			return nil, fmt.Errorf("result extra: %w", err)
		}
	}
	return &pb.ExecuteActionResponse{Outcome: &pb.ExecuteActionResponse_Result{Result: result}}, nil
}

func protoOptions(options []Option) ([]*pb.Option, error) {
	out := make([]*pb.Option, 0, len(options))
	for _, o := range options {
		shown, err := jsonValue(o.Value)
		if err != nil {
			return nil, fmt.Errorf("option %q: %w", o.Name, err)
		}
		v, err := structpb.NewValue(shown)
		if err != nil {
			return nil, fmt.Errorf("option %q: %w", o.Name, err)
		}
		out = append(out, &pb.Option{Value: v, Name: o.Name, Color: o.Color})
	}
	return out, nil
}
