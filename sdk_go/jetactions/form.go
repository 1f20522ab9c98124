package jetactions

import (
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/jetbridge/jetbridge-grpc/sdk_go/gen/jetactions/v1"
)

// fieldTypes maps the `type=` names of a jet tag to Jet's field types.
var fieldTypes = map[string]pb.FieldType{
	"boolean":      pb.FieldType_FIELD_TYPE_BOOLEAN,
	"char":         pb.FieldType_FIELD_TYPE_CHAR,
	"text":         pb.FieldType_FIELD_TYPE_TEXT,
	"integer":      pb.FieldType_FIELD_TYPE_INTEGER,
	"float":        pb.FieldType_FIELD_TYPE_FLOAT,
	"decimal":      pb.FieldType_FIELD_TYPE_DECIMAL,
	"datetime":     pb.FieldType_FIELD_TYPE_DATE_TIME,
	"date":         pb.FieldType_FIELD_TYPE_DATE,
	"time":         pb.FieldType_FIELD_TYPE_TIME,
	"timestamp":    pb.FieldType_FIELD_TYPE_TIMESTAMP,
	"json":         pb.FieldType_FIELD_TYPE_JSON,
	"select":       pb.FieldType_FIELD_TYPE_SELECT,
	"foreign_key":  pb.FieldType_FIELD_TYPE_FOREIGN_KEY,
	"code":         pb.FieldType_FIELD_TYPE_CODE,
	"sql":          pb.FieldType_FIELD_TYPE_SQL,
	"translatable": pb.FieldType_FIELD_TYPE_TRANSLATABLE,
}

// textTypes are the field types whose empty string is a value, not "missing".
var textTypes = map[pb.FieldType]bool{
	pb.FieldType_FIELD_TYPE_CHAR: true, pb.FieldType_FIELD_TYPE_TEXT: true,
	pb.FieldType_FIELD_TYPE_CODE: true, pb.FieldType_FIELD_TYPE_SQL: true,
	pb.FieldType_FIELD_TYPE_TRANSLATABLE: true,
}

// input is one form input: a field of the input struct.
type input struct {
	index      int
	param      *pb.Param
	convert    converter
	pointer    bool
	keepsEmpty bool
	choices    []any         // the static options' values; nil when none
	fallback   reflect.Value // the default, when the tag declares one
}

// form is the Jet form of an input struct type, built once per action.
type form struct {
	typ    reflect.Type
	inputs []*input
}

// fieldRefinement is what Field declares on top of a struct tag.
type fieldRefinement struct {
	label, help string
	options     []Option
	extra       map[string]any
}

// buildForm reads the input struct In; it panics on a declaration mistake,
// so that the mistake shows when the server is built, not at the first call.
func buildForm(action string, t reflect.Type, refine map[string]*fieldRefinement) *form {
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("jetactions: action %q: the input type %s is not a struct", action, t))
	}
	f := &form{typ: t}
	seen := map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, tagged := sf.Tag.Lookup("jet")
		if !sf.IsExported() || tag == "-" {
			continue
		}
		where := fmt.Sprintf("jetactions: action %q, field %s", action, sf.Name)
		in, err := newInput(sf, tag, tagged)
		if err != nil {
			panic(fmt.Sprintf("%s: %v", where, err))
		}
		in.index = i
		name := in.param.GetName()
		if seen[name] {
			panic(fmt.Sprintf("%s: the input %q is declared twice", where, name))
		}
		seen[name] = true
		if r, ok := refine[name]; ok {
			if err := in.refine(r); err != nil {
				panic(fmt.Sprintf("%s: %v", where, err))
			}
			delete(refine, name)
		}
		f.inputs = append(f.inputs, in)
	}
	for name := range refine {
		panic(fmt.Sprintf("jetactions: action %q: Field(%q) names no field of %s", action, name, t))
	}
	return f
}

func newInput(sf reflect.StructField, tag string, tagged bool) (*input, error) {
	parts := strings.Split(tag, ",")
	name := parts[0]
	if !tagged || name == "" {
		name = snakeCase(sf.Name)
	}
	t := sf.Type
	in := &input{param: &pb.Param{Name: name}}
	if t.Kind() == reflect.Pointer {
		in.pointer, t = true, t.Elem()
	}
	typeName, optional, defaultText, hasDefault := "", in.pointer, "", false
	for _, part := range parts[1:] {
		key, value, _ := strings.Cut(part, "=")
		switch key {
		case "label":
			in.param.Label = value
		case "help":
			in.param.Description = value
		case "type":
			if _, ok := fieldTypes[value]; !ok {
				return nil, fmt.Errorf("unknown type=%q", value)
			}
			typeName = value
		case "optional":
			optional = true
		case "default":
			defaultText, hasDefault, optional = value, true, true
		case "server_options":
			in.param.OptionsFromServer = true
		case "model":
			in.param.RelatedModel = value
		default:
			return nil, fmt.Errorf("unknown tag option %q", key)
		}
	}
	if typeName == "" {
		typeName = defaultType(t, in.param)
	}
	in.param.Field = fieldTypes[typeName]
	if in.param.Field == pb.FieldType_FIELD_TYPE_FOREIGN_KEY && in.param.RelatedModel == "" {
		return nil, fmt.Errorf("type=foreign_key needs model=COLLECTION")
	}
	if (t == typeTime) != (typeName == "datetime" || typeName == "date" || typeName == "time" || typeName == "timestamp") {
		return nil, fmt.Errorf("type=%s does not fit the Go type %s", typeName, sf.Type)
	}
	if in.convert = converterFor(t, typeName); in.convert == nil {
		return nil, fmt.Errorf("unsupported Go type %s", sf.Type)
	}
	in.param.Required = !optional
	in.keepsEmpty = t.Kind() == reflect.String && textTypes[in.param.Field]
	if hasDefault {
		v, message := in.convert(defaultText)
		if message != "" {
			return nil, fmt.Errorf("default=%q: %s", defaultText, message)
		}
		if err := in.setDefault(v, typeName); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// defaultType is the field type a Go type implies.
func defaultType(t reflect.Type, p *pb.Param) string {
	switch {
	case p.GetOptionsFromServer():
		return "select"
	case p.GetRelatedModel() != "":
		return "foreign_key"
	case t == typeTime:
		return "datetime"
	case t == typeDecimal:
		return "decimal"
	case t == typeID:
		return "char"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Map, reflect.Slice, reflect.Struct, reflect.Interface:
		return "json"
	}
	return "char"
}

func (in *input) setDefault(v reflect.Value, typeName string) error {
	in.fallback = v
	var shown any
	switch t := v.Interface().(type) {
	case time.Time:
		shown = t.Format(map[string]string{"date": time.DateOnly, "time": "15:04:05.999999999"}[typeName])
		if typeName == "datetime" || typeName == "timestamp" {
			shown = t.Format(time.RFC3339Nano)
		}
	default:
		var err error
		if v.CanInt() {
			shown = float64(v.Int())
		} else if v.CanUint() {
			shown = float64(v.Uint())
		} else if shown, err = jsonValue(t); err != nil {
			return fmt.Errorf("default: %w", err)
		}
	}
	value, err := structpb.NewValue(shown)
	if err != nil {
		return fmt.Errorf("default: %w", err)
	}
	in.param.DefaultValue = value
	return nil
}

// refine applies a Field declaration over the tag's.
func (in *input) refine(r *fieldRefinement) error {
	if r.label != "" {
		in.param.Label = r.label
	}
	if r.help != "" {
		in.param.Description = r.help
	}
	if len(r.extra) > 0 {
		extra, err := structpb.NewStruct(r.extra)
		if err != nil {
			return fmt.Errorf("Extra: %w", err)
		}
		in.param.Extra = extra
	}
	if len(r.options) > 0 {
		in.param.Field = pb.FieldType_FIELD_TYPE_SELECT
		options, err := protoOptions(r.options)
		if err != nil {
			return err
		}
		in.param.Options = options
		in.keepsEmpty = false // a select's "" picks nothing
		for _, o := range options {
			in.choices = append(in.choices, o.GetValue().AsInterface())
		}
	}
	return nil
}

// decode checks every input, so that the user sees all problems at once, and
// returns the filled struct (a pointer to it) or the errors per input.
func (f *form) decode(raw map[string]any) (reflect.Value, map[string][]string) {
	out := reflect.New(f.typ)
	errs := map[string][]string{}
	for _, in := range f.inputs {
		value, present := raw[in.param.GetName()]
		text, isText := value.(string)
		missing := value == nil || (isText && text == "" && (!in.keepsEmpty || in.param.GetRequired()))
		if !present || missing {
			if in.param.GetRequired() {
				errs[in.param.GetName()] = []string{msgRequired}
			} else if in.fallback.IsValid() {
				in.set(out.Elem(), in.fallback)
			}
			continue
		}
		if in.choices != nil && !in.picksChoice(value) {
			errs[in.param.GetName()] = []string{
				"Select a valid choice. " + display(value) + " is not one of the available choices.",
			}
			continue
		}
		v, message := in.convert(value)
		if message != "" {
			errs[in.param.GetName()] = []string{message}
			continue
		}
		in.set(out.Elem(), v)
	}
	return out, errs
}

func (in *input) picksChoice(raw any) bool {
	for _, c := range in.choices {
		if sameChoice(raw, c) {
			return true
		}
	}
	return false
}

func (in *input) set(target, v reflect.Value) {
	field := target.Field(in.index)
	if in.pointer {
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		v = p
	}
	field.Set(v)
}

// snakeCase names an untagged field: UserID becomes user_id.
func snakeCase(s string) string {
	var b strings.Builder
	runes := []rune(s)
	for i, r := range runes {
		if unicode.IsUpper(r) {
			next := i+1 < len(runes) && unicode.IsLower(runes[i+1])
			if i > 0 && (unicode.IsLower(runes[i-1]) || next) {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
