package jetactions

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/jetbridge/jetbridge-grpc/sdk_go/gen/jetactions/v1"
)

// Handler runs an action with inputs In. It returns the outcome, or an
// error: *FieldErrors for the form, *Error (or any gRPC status error) for a
// status; any other error is logged and the caller sees INTERNAL.
type Handler[In any] func(ctx context.Context, req *Request[In]) (*Result, error)

// FieldOptionsHandler lists the options of a select field given the form.
type FieldOptionsHandler func(ctx context.Context, req *FieldRequest) ([]Option, error)

// Action is a declared action, ready for [Server.Handle].
type Action struct {
	desc    *pb.Action
	timeout time.Duration
	run     func(ctx context.Context, call Call, req *pb.ExecuteActionRequest, ids []ID) (*Result, error)
	form    *form
}

// Name returns the action's name.
func (a *Action) Name() string { return a.desc.GetName() }

// An ActionOption refines a declaration: [Label], [Icon], [Description],
// [Timeout], [Idempotent], [ForInstance], [Bulk], [AlsoOn], [Field].
type ActionOption interface {
	apply(*actionConfig)
}

type actionConfig struct {
	desc    *pb.Action
	model   *pb.ModelAction // nil for common actions
	timeout time.Duration
	fields  map[string]*fieldRefinement
	errs    []string
}

type optionFunc func(*actionConfig)

func (f optionFunc) apply(c *actionConfig) { f(c) }

// Label sets the human title; Jet shows the name without one.
func Label(label string) ActionOption {
	return optionFunc(func(c *actionConfig) { c.desc.Label = label })
}

// Icon sets the icon shown next to the action.
func Icon(icon string) ActionOption { return optionFunc(func(c *actionConfig) { c.desc.Icon = icon }) }

// Description sets a longer description of what the action does.
func Description(text string) ActionOption {
	return optionFunc(func(c *actionConfig) { c.desc.Description = text })
}

// Timeout bounds one run: the bridge uses the smallest of it and its own
// limits, and the server cancels the handler's context when it passes.
func Timeout(d time.Duration) ActionOption {
	return optionFunc(func(c *actionConfig) {
		if d <= 0 {
			c.errs = append(c.errs, "Timeout must be positive")
		}
		c.timeout = d
	})
}

// Idempotent declares that running the action twice has the effect of once,
// so the bridge may retry it after a transport failure.
func Idempotent() ActionOption { return optionFunc(func(c *actionConfig) { c.desc.Idempotent = true }) }

// ForInstance makes a model action run on selected records (it gets IDs).
func ForInstance() ActionOption {
	return modelOption("ForInstance", func(m *pb.ModelAction) { m.ForInstance = true })
}

// Bulk makes one call carry many ids; otherwise Jet calls once per record.
func Bulk() ActionOption { return modelOption("Bulk", func(m *pb.ModelAction) { m.Bulk = true }) }

// AlsoOn shows a model action on more collections.
func AlsoOn(models ...string) ActionOption {
	return modelOption("AlsoOn", func(m *pb.ModelAction) { m.Models = append(m.Models, models...) })
}

func modelOption(name string, set func(*pb.ModelAction)) ActionOption {
	return optionFunc(func(c *actionConfig) {
		if c.model == nil {
			c.errs = append(c.errs, name+" is for model actions")
			return
		}
		set(c.model)
	})
}

// A FieldOption refines one input: [Choices], [FieldLabel], [Help], [Extra].
type FieldOption func(*fieldRefinement)

// Field refines the input name beyond what its struct tag says.
func Field(name string, opts ...FieldOption) ActionOption {
	return optionFunc(func(c *actionConfig) {
		r, ok := c.fields[name]
		if !ok {
			r = &fieldRefinement{}
			c.fields[name] = r
		}
		for _, opt := range opts {
			opt(r)
		}
	})
}

// Choices makes the input a SelectField with these static options; a value
// outside them is refused before the handler runs.
func Choices(options ...Option) FieldOption {
	return func(r *fieldRefinement) { r.options = append(r.options, options...) }
}

// FieldLabel sets the input's label (a tag's label cannot hold a comma).
func FieldLabel(label string) FieldOption { return func(r *fieldRefinement) { r.label = label } }

// Help sets the text shown under the input.
func Help(text string) FieldOption { return func(r *fieldRefinement) { r.help = text } }

// Extra passes further Jet field params to Jet Admin as they are.
func Extra(params map[string]any) FieldOption {
	return func(r *fieldRefinement) { r.extra = params }
}

// ModelAction declares an action shown on the collection model (and those of
// [AlsoOn]). Its form is the struct In (struct{} for none); see the package
// documentation for the struct tags. It panics on a declaration mistake.
func ModelAction[In any](name, model string, h Handler[In], opts ...ActionOption) *Action {
	m := &pb.ModelAction{Models: []string{model}}
	return newAction(name, &pb.Action{Name: name, Kind: &pb.Action_ModelAction{ModelAction: m}}, m, h, opts)
}

// CommonAction declares an action that is not tied to any collection.
func CommonAction[In any](name string, h Handler[In], opts ...ActionOption) *Action {
	desc := &pb.Action{Name: name, Kind: &pb.Action_CommonAction{CommonAction: &pb.CommonAction{}}}
	return newAction(name, desc, nil, h, opts)
}

func newAction[In any](name string, desc *pb.Action, m *pb.ModelAction, h Handler[In], opts []ActionOption) *Action {
	if name == "" || h == nil {
		panic("jetactions: an action needs a name and a handler")
	}
	if m != nil && m.Models[0] == "" {
		panic(fmt.Sprintf("jetactions: action %q: the model name is empty", name))
	}
	c := &actionConfig{desc: desc, model: m, fields: map[string]*fieldRefinement{}}
	for _, opt := range opts {
		opt.apply(c)
	}
	for _, e := range c.errs {
		panic(fmt.Sprintf("jetactions: action %q: %s", name, e))
	}
	f := buildForm(name, reflect.TypeFor[In](), c.fields)
	for _, in := range f.inputs {
		desc.Params = append(desc.Params, in.param)
	}
	if c.timeout > 0 {
		desc.Timeout = durationpb.New(c.timeout)
	}
	a := &Action{desc: desc, timeout: c.timeout, form: f}
	a.run = func(ctx context.Context, call Call, req *pb.ExecuteActionRequest, ids []ID) (*Result, error) {
		inputs := req.GetInputs().AsMap()
		value, errs := f.decode(inputs)
		if len(errs) > 0 {
			return nil, &FieldErrors{Fields: errs}
		}
		return h(ctx, &Request[In]{
			Call: call, Action: name, Input: *value.Interface().(*In),
			IDs: ids, InverseIDs: req.GetInverseIds(), Inputs: inputs,
		})
	}
	return a
}
