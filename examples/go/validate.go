package main

import (
	"math"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/jetbridge-grpc/examples/go/gen/jetactions/v1"
)

// requiredMessage is Django's wording, which Jet Admin users know.
const requiredMessage = "This field is required."

// plainNumber is a number in plain decimal notation: no "nan", "inf", hex or "_".
var plainNumber = regexp.MustCompile(`^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$`)

// validate checks the form's inputs against the action's params before the
// action runs, with the rules and messages of the Python SDK, so that the
// example servers of every language refuse the same forms the same way. Every
// input is checked, so the user sees all problems at once; nil means none.
func validate(params []*pb.Param, inputs *structpb.Struct) map[string]*pb.ErrorList {
	errs := map[string]*pb.ErrorList{}
	for _, p := range params {
		v := inputs.GetFields()[p.GetName()]
		var message string
		if missing(p, v) {
			if p.GetRequired() {
				message = requiredMessage
			}
		} else {
			message = check(p, v)
		}
		if message != "" {
			errs[p.GetName()] = &pb.ErrorList{Messages: []string{message}}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// missing reports an absent or null input; "" too, except for text inputs,
// where it is a value (but still not enough for a required one).
func missing(p *pb.Param, v *structpb.Value) bool {
	switch k := v.GetKind().(type) {
	case nil, *structpb.Value_NullValue:
		return true
	case *structpb.Value_StringValue:
		text := p.GetField() == pb.FieldType_FIELD_TYPE_CHAR || p.GetField() == pb.FieldType_FIELD_TYPE_TEXT
		return k.StringValue == "" && (!text || p.GetRequired())
	}
	return false
}

// check returns what is wrong with a present input, or "".
func check(p *pb.Param, v *structpb.Value) string {
	if options := p.GetOptions(); len(options) > 0 {
		for _, o := range options {
			if sameChoice(v, o.GetValue()) {
				return ""
			}
		}
		return "Select a valid choice. " + text(v) + " is not one of the available choices."
	}
	switch p.GetField() {
	case pb.FieldType_FIELD_TYPE_BOOLEAN:
		if _, ok := boolean(v); !ok {
			return "Enter true or false."
		}
	case pb.FieldType_FIELD_TYPE_DECIMAL:
		if _, _, ok := decimal(v); !ok {
			return "Enter a number."
		}
	default: // the text inputs, and a select whose options come from the server
		switch v.GetKind().(type) {
		case *structpb.Value_StringValue, *structpb.Value_NumberValue:
		default:
			return "Enter a valid text."
		}
	}
	return ""
}

// sameChoice reports whether an input picks an option. Forms send numbers as
// strings, so "1" picks the option 1; booleans only match booleans.
func sameChoice(v, choice *structpb.Value) bool {
	if proto.Equal(v, choice) {
		return true
	}
	s, isString := v.GetKind().(*structpb.Value_StringValue)
	_, choiceIsNumber := choice.GetKind().(*structpb.Value_NumberValue)
	return isString && choiceIsNumber && strings.TrimSpace(s.StringValue) == text(choice)
}

// decimal reads a DecimalField input, which Jet sends as a number or a string.
// It returns the value as a double (±Inf or 0 beyond a double's range) and
// whether it is above zero, which for a string is decided on its digits, so
// that "1e-400" is positive and "1e400" valid, as they are as exact decimals.
func decimal(v *structpb.Value) (value float64, positive, ok bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		f := k.NumberValue
		return f, f > 0, !math.IsNaN(f) && !math.IsInf(f, 0)
	case *structpb.Value_StringValue:
		s := strings.TrimSpace(k.StringValue)
		if !plainNumber.MatchString(s) {
			return 0, false, false
		}
		f, _ := strconv.ParseFloat(s, 64) // the only possible error is a range error
		mantissa, _, _ := strings.Cut(strings.ToLower(s), "e")
		return f, !strings.HasPrefix(s, "-") && strings.ContainsAny(mantissa, "123456789"), true
	}
	return 0, false, false
}

// boolean reads a BooleanField input: true/false, 1/0, or those as strings.
func boolean(v *structpb.Value) (bool, bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_BoolValue:
		return k.BoolValue, true
	case *structpb.Value_NumberValue:
		return k.NumberValue == 1, k.NumberValue == 0 || k.NumberValue == 1
	case *structpb.Value_StringValue:
		switch strings.ToLower(strings.TrimSpace(k.StringValue)) {
		case "true", "1":
			return true, true
		case "false", "0":
			return false, true
		}
	}
	return false, false
}
