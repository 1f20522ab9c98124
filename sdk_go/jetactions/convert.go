package jetactions

import (
	"encoding/json"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The messages of refused inputs: Django's wording, which Jet Admin users
// know, and the same in every SDK of this project.
const (
	msgRequired = "This field is required."
	msgText     = "Enter a valid text."
	msgInteger  = "Enter a whole number."
	msgNumber   = "Enter a number."
	msgBoolean  = "Enter true or false."
	msgDateTime = "Enter a valid date/time."
	msgDate     = "Enter a valid date."
	msgTime     = "Enter a valid time."
	msgJSON     = "Enter a valid JSON."
	msgObject   = "Enter a JSON object."
	msgList     = "Enter a JSON list."
	msgID       = "Enter a number or a text."
)

var integer = regexp.MustCompile(`^[+-]?\d+$`)

// A converter checks one present input (a value of encoding/json's shapes:
// nil, bool, float64, string, []any, map[string]any) and returns it as the Go
// type of its struct field, or the message shown on the form.
type converter func(raw any) (reflect.Value, string)

var (
	typeTime    = reflect.TypeFor[time.Time]()
	typeDecimal = reflect.TypeFor[Decimal]()
	typeID      = reflect.TypeFor[ID]()
)

// converterFor returns the converter of a non-pointer Go type under a field
// type, or nil when the two do not fit together.
func converterFor(t reflect.Type, field string) converter {
	switch {
	case t == typeTime:
		return timeConverter(field)
	case t == typeDecimal:
		return toDecimal
	case t == typeID:
		return toID
	}
	switch t.Kind() {
	case reflect.String:
		return func(raw any) (reflect.Value, string) {
			s, ok := raw.(string)
			if f, isNum := raw.(float64); isNum {
				s, ok = formatNumber(f), true
			}
			if !ok {
				return reflect.Value{}, msgText
			}
			return reflect.ValueOf(s).Convert(t), ""
		}
	case reflect.Bool:
		return func(raw any) (reflect.Value, string) {
			b, ok := toBool(raw)
			if !ok {
				return reflect.Value{}, msgBoolean
			}
			return reflect.ValueOf(b).Convert(t), ""
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(raw any) (reflect.Value, string) {
			n, ok := toInt(raw)
			v := reflect.New(t).Elem()
			if !ok || v.OverflowInt(n) {
				return reflect.Value{}, msgInteger
			}
			v.SetInt(n)
			return v, ""
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return func(raw any) (reflect.Value, string) {
			n, ok := toInt(raw)
			v := reflect.New(t).Elem()
			if !ok || n < 0 || v.OverflowUint(uint64(n)) {
				return reflect.Value{}, msgInteger
			}
			v.SetUint(uint64(n))
			return v, ""
		}
	case reflect.Float32, reflect.Float64:
		return func(raw any) (reflect.Value, string) {
			f, ok := toFloat(raw)
			v := reflect.New(t).Elem()
			if !ok || v.OverflowFloat(f) {
				return reflect.Value{}, msgNumber
			}
			v.SetFloat(f)
			return v, ""
		}
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return func(raw any) (reflect.Value, string) {
				v := reflect.New(t).Elem()
				if raw != nil {
					v.Set(reflect.ValueOf(raw))
				}
				return v, ""
			}
		}
	case reflect.Map, reflect.Slice, reflect.Struct:
		return jsonConverter(t)
	}
	return nil
}

func toBool(raw any) (bool, bool) {
	switch v := raw.(type) {
	case bool:
		return v, true
	case float64:
		return v == 1, v == 0 || v == 1
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "1":
			return true, true
		case "false", "0":
			return false, true
		}
	}
	return false, false
}

func toInt(raw any) (int64, bool) {
	switch v := raw.(type) {
	case float64:
		if v != math.Trunc(v) || math.Abs(v) >= 1<<63 {
			return 0, false
		}
		return int64(v), true
	case string:
		s := strings.TrimSpace(v)
		if !integer.MatchString(s) {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	return 0, false
}

func toFloat(raw any) (float64, bool) {
	var f float64
	switch v := raw.(type) {
	case float64:
		f = v
	case string:
		s := strings.TrimSpace(v)
		if !plainNumber.MatchString(s) {
			return 0, false
		}
		var err error
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

func toDecimal(raw any) (reflect.Value, string) {
	var text string
	switch v := raw.(type) {
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return reflect.Value{}, msgNumber
		}
		// The shortest round-trip form: 0.1 stays exactly 1/10.
		text = strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		text = v
	default:
		return reflect.Value{}, msgNumber
	}
	d, ok := ParseDecimal(text)
	if !ok {
		return reflect.Value{}, msgNumber
	}
	return reflect.ValueOf(d), ""
}

func toID(raw any) (reflect.Value, string) {
	id, ok := idOf(raw)
	if !ok {
		return reflect.Value{}, msgID
	}
	return reflect.ValueOf(id), ""
}

// The ISO 8601 forms a browser plausibly sends; a trailing "Z" means UTC and
// a time without an offset is read as UTC.
var (
	dateTimeLayouts = []string{
		time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999", "2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02 15:04",
		time.DateOnly,
	}
	dateLayouts = []string{time.DateOnly}
	timeLayouts = []string{"15:04:05.999999999Z07:00", "15:04:05.999999999", "15:04Z07:00", "15:04"}
)

func timeConverter(field string) converter {
	layouts, message := dateTimeLayouts, msgDateTime
	switch field {
	case "date":
		layouts, message = dateLayouts, msgDate
	case "time":
		layouts, message = timeLayouts, msgTime
	case "timestamp":
		return func(raw any) (reflect.Value, string) {
			f, ok := toFloat(raw)
			if !ok {
				return reflect.Value{}, msgNumber
			}
			sec, frac := math.Modf(f)
			return reflect.ValueOf(time.Unix(int64(sec), int64(frac*1e9)).UTC()), ""
		}
	}
	return func(raw any) (reflect.Value, string) {
		if s, ok := raw.(string); ok {
			for _, layout := range layouts {
				if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
					return reflect.ValueOf(t), ""
				}
			}
		}
		return reflect.Value{}, message
	}
}

// jsonConverter decodes a JSON input into a map, slice or struct type; a
// form's JSON editor may send the document as text.
func jsonConverter(t reflect.Type) converter {
	message := msgJSON
	switch t.Kind() {
	case reflect.Map:
		message = msgObject
	case reflect.Slice:
		message = msgList
	}
	return func(raw any) (reflect.Value, string) {
		if s, ok := raw.(string); ok {
			if err := json.Unmarshal([]byte(s), &raw); err != nil {
				return reflect.Value{}, msgJSON
			}
		}
		data, err := json.Marshal(raw)
		if err != nil {
			return reflect.Value{}, message
		}
		v := reflect.New(t)
		if raw == nil || json.Unmarshal(data, v.Interface()) != nil {
			return reflect.Value{}, message
		}
		return v.Elem(), ""
	}
}

// sameChoice reports whether an input picks an option's value. Forms send
// numbers as strings, so "1" picks the option 1; booleans match booleans only.
func sameChoice(raw, choice any) bool {
	if rb, ok := raw.(bool); ok {
		cb, isBool := choice.(bool)
		return isBool && rb == cb
	}
	if _, ok := choice.(bool); ok {
		return false
	}
	if reflect.DeepEqual(raw, choice) {
		return true
	}
	s, isString := raw.(string)
	f, isNumber := choice.(float64)
	return isString && isNumber && strings.TrimSpace(s) == formatNumber(f)
}

// display spells a raw input in a message.
func display(raw any) string {
	switch v := raw.(type) {
	case string:
		return v
	case float64:
		return formatNumber(v)
	}
	data, _ := json.Marshal(raw)
	return string(data)
}

// jsonValue turns a Go value into encoding/json's shapes, for protobuf Values.
func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case nil, bool, string, float64:
		return v, nil
	case int:
		return float64(v), nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(data, &out)
	return out, err
}
