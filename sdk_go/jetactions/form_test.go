package jetactions_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/jetbridge/jetbridge-grpc/sdk_go/gen/jetactions/v1"
	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions"
	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions/jetactionstest"
)

// Everything has one input of every kind the SDK maps.
type Everything struct {
	Char      string             `jet:"char,optional"`
	Text      string             `jet:"text,type=text,optional,label=Text,help=Long text"`
	Code      string             `jet:"code,type=code,optional"`
	Integer   int                `jet:"integer,optional"`
	Small     int8               `jet:"small,optional"`
	Unsigned  uint               `jet:"unsigned,optional"`
	Float     float64            `jet:"float,optional"`
	Decimal   jetactions.Decimal `jet:"decimal,optional"`
	Boolean   bool               `jet:"boolean,default=true"`
	DateTime  time.Time          `jet:"datetime,optional"`
	Date      time.Time          `jet:"date,type=date,optional"`
	Time      time.Time          `jet:"time,type=time,optional"`
	Stamp     time.Time          `jet:"stamp,type=timestamp,optional"`
	Object    map[string]any     `jet:"object,optional"`
	List      []string           `jet:"list,optional"`
	Anything  any                `jet:"anything,optional"`
	Pick      string             `jet:"pick,optional"`
	Number    int                `jet:"number,optional"`
	City      string             `jet:"city,server_options,optional"`
	Owner     jetactions.ID      `jet:"owner,model=users,optional"`
	Maybe     *int               `jet:"maybe"`
	Needed    string             `jet:"needed"`
	Defaulted int                `jet:"defaulted,default=7"`
	UserName  string
	Skipped   string `jet:"-"`
}

var everything = jetactions.ModelAction("everything", "things",
	func(ctx context.Context, req *jetactions.Request[Everything]) (*jetactions.Result, error) {
		got = req.Input
		return nil, nil
	},
	jetactions.Field("pick", jetactions.Choices(jetactions.Option{Value: "a", Name: "A"}, jetactions.Option{Value: "b", Name: "B"})),
	jetactions.Field("number", jetactions.Choices(jetactions.Option{Value: 1, Name: "One"}, jetactions.Option{Value: 2, Name: "Two"})),
	jetactions.Field("char", jetactions.FieldLabel("Char, short"), jetactions.Extra(map[string]any{"placeholder": "x"})),
)

var got Everything // the handler's last input; the tests run one call at a time

func TestInputs(t *testing.T) {
	srv := jetactions.NewServer("forms")
	srv.Handle(everything)
	client := jetactionstest.New(t, srv)
	seven, fortyTwo := 7, 42
	utc := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	tests := []struct {
		name   string
		inputs map[string]any
		want   func(*Everything) // the fields the inputs set, over the defaults
		errs   map[string]string
	}{
		{"required only", nil, nil, nil},
		{"text keeps empty", map[string]any{"text": ""}, nil, nil},
		{"char from number", map[string]any{"char": 12.5}, func(e *Everything) { e.Char = "12.5" }, nil},
		{"char from bool", map[string]any{"char": true}, nil, map[string]string{"char": "Enter a valid text."}},
		{"integer string", map[string]any{"integer": " 42 "}, func(e *Everything) { e.Integer = 42 }, nil},
		{"integer float", map[string]any{"integer": 3.0}, func(e *Everything) { e.Integer = 3 }, nil},
		{"integer fraction", map[string]any{"integer": 3.5}, nil, map[string]string{"integer": "Enter a whole number."}},
		{"integer bool", map[string]any{"integer": true}, nil, map[string]string{"integer": "Enter a whole number."}},
		{"int8 overflow", map[string]any{"small": 300}, nil, map[string]string{"small": "Enter a whole number."}},
		{"uint negative", map[string]any{"unsigned": -1}, nil, map[string]string{"unsigned": "Enter a whole number."}},
		{"float string", map[string]any{"float": "1e3"}, func(e *Everything) { e.Float = 1000 }, nil},
		{"float nan", map[string]any{"float": "nan"}, nil, map[string]string{"float": "Enter a number."}},
		{"decimal string", map[string]any{"decimal": "2.50"}, func(e *Everything) { e.Decimal = jetactions.MustDecimal("2.50") }, nil},
		{"decimal float", map[string]any{"decimal": 0.1}, func(e *Everything) { e.Decimal = jetactions.MustDecimal("0.1") }, nil},
		{"decimal word", map[string]any{"decimal": "ten"}, nil, map[string]string{"decimal": "Enter a number."}},
		{"boolean forms", map[string]any{"boolean": "FALSE"}, func(e *Everything) { e.Boolean = false }, nil},
		{"boolean number", map[string]any{"boolean": 0}, func(e *Everything) { e.Boolean = false }, nil},
		{"boolean other", map[string]any{"boolean": "maybe"}, nil, map[string]string{"boolean": "Enter true or false."}},
		{"datetime Z", map[string]any{"datetime": "2026-12-01T10:30:00Z"}, func(e *Everything) { e.DateTime = utc("2026-12-01T10:30:00Z") }, nil},
		{"datetime naive", map[string]any{"datetime": "2026-12-01T10:30"}, func(e *Everything) { e.DateTime = utc("2026-12-01T10:30:00Z") }, nil},
		{"datetime bad", map[string]any{"datetime": "yesterday"}, nil, map[string]string{"datetime": "Enter a valid date/time."}},
		{"date", map[string]any{"date": "2026-12-01"}, func(e *Everything) { e.Date = utc("2026-12-01T00:00:00Z") }, nil},
		{"date bad", map[string]any{"date": "2026-13-01"}, nil, map[string]string{"date": "Enter a valid date."}},
		{"time", map[string]any{"time": "10:30"}, func(e *Everything) { e.Time = utc("0000-01-01T10:30:00Z") }, nil},
		{"time bad", map[string]any{"time": 1030}, nil, map[string]string{"time": "Enter a valid time."}},
		{"timestamp", map[string]any{"stamp": 1.5}, func(e *Everything) { e.Stamp = time.Unix(1, 5e8).UTC() }, nil},
		{"object", map[string]any{"object": map[string]any{"a": 1.0}}, func(e *Everything) { e.Object = map[string]any{"a": 1.0} }, nil},
		{"object as text", map[string]any{"object": `{"a": 1}`}, func(e *Everything) { e.Object = map[string]any{"a": 1.0} }, nil},
		{"object list", map[string]any{"object": []any{1.0}}, nil, map[string]string{"object": "Enter a JSON object."}},
		{"list typed", map[string]any{"list": []any{"x", "y"}}, func(e *Everything) { e.List = []string{"x", "y"} }, nil},
		{"list wrong items", map[string]any{"list": []any{1.0}}, nil, map[string]string{"list": "Enter a JSON list."}},
		{"list bad text", map[string]any{"list": "[1,"}, nil, map[string]string{"list": "Enter a valid JSON."}},
		{"anything", map[string]any{"anything": []any{true}}, func(e *Everything) { e.Anything = []any{true} }, nil},
		{"choice", map[string]any{"pick": "b"}, func(e *Everything) { e.Pick = "b" }, nil},
		{"choice outside", map[string]any{"pick": "c"}, nil, map[string]string{"pick": "Select a valid choice. c is not one of the available choices."}},
		{"number choice as text", map[string]any{"number": "2"}, func(e *Everything) { e.Number = 2 }, nil},
		{"server options", map[string]any{"city": "leeds"}, func(e *Everything) { e.City = "leeds" }, nil},
		{"foreign key number", map[string]any{"owner": 5}, func(e *Everything) { e.Owner = jetactions.NumberID(5) }, nil},
		{"foreign key string", map[string]any{"owner": "u5"}, func(e *Everything) { e.Owner = jetactions.StringID("u5") }, nil},
		{"foreign key object", map[string]any{"owner": map[string]any{}}, nil, map[string]string{"owner": "Enter a number or a text."}},
		{"pointer", map[string]any{"maybe": "42"}, func(e *Everything) { e.Maybe = &fortyTwo }, nil},
		{"default when null", map[string]any{"defaulted": nil}, nil, nil},
		{"required missing", map[string]any{"needed": nil}, nil, map[string]string{"needed": "This field is required."}},
		{"required empty", map[string]any{"needed": ""}, nil, map[string]string{"needed": "This field is required."}},
		{"all errors at once", map[string]any{"needed": "", "integer": "x", "boolean": "x"}, nil,
			map[string]string{"needed": "This field is required.", "integer": "Enter a whole number.", "boolean": "Enter true or false."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inputs := map[string]any{"needed": "yes", "user_name": "ada"}
			for k, v := range tt.inputs {
				inputs[k] = v
			}
			got = Everything{}
			_, err := client.Execute(context.Background(), "everything", jetactionstest.Model("things"), jetactionstest.Inputs(inputs))
			if tt.errs != nil {
				var fe *jetactions.FieldErrors
				if !errors.As(err, &fe) {
					t.Fatalf("got %v, want field errors", err)
				}
				gotErrs := map[string]string{}
				for name, messages := range fe.Fields {
					gotErrs[name] = strings.Join(messages, " ")
				}
				if !reflect.DeepEqual(gotErrs, tt.errs) {
					t.Errorf("errors %v, want %v", gotErrs, tt.errs)
				}
				if !reflect.DeepEqual(got, Everything{}) {
					t.Errorf("the handler ran with %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Everything{Needed: "yes", UserName: "ada", Boolean: true, Defaulted: seven}
			if tt.want != nil {
				tt.want(&want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestFormInListActions(t *testing.T) {
	srv := jetactions.NewServer("forms")
	srv.Handle(everything)
	listing, err := jetactionstest.New(t, srv).ListActions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]*pb.Param{}
	var names []string
	for _, p := range listing.GetActions()[0].GetParams() {
		params[p.GetName()] = p
		names = append(names, p.GetName())
	}
	wantNames := []string{"char", "text", "code", "integer", "small", "unsigned", "float", "decimal", "boolean",
		"datetime", "date", "time", "stamp", "object", "list", "anything", "pick", "number", "city", "owner",
		"maybe", "needed", "defaulted", "user_name"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Fatalf("names %v", names)
	}
	tests := map[string]string{
		"char":      `{"name":"char","field":"FIELD_TYPE_CHAR","label":"Char, short","extra":{"placeholder":"x"}}`,
		"text":      `{"name":"text","field":"FIELD_TYPE_TEXT","label":"Text","description":"Long text"}`,
		"decimal":   `{"name":"decimal","field":"FIELD_TYPE_DECIMAL"}`,
		"boolean":   `{"name":"boolean","field":"FIELD_TYPE_BOOLEAN","defaultValue":true}`,
		"date":      `{"name":"date","field":"FIELD_TYPE_DATE"}`,
		"stamp":     `{"name":"stamp","field":"FIELD_TYPE_TIMESTAMP"}`,
		"object":    `{"name":"object","field":"FIELD_TYPE_JSON"}`,
		"pick":      `{"name":"pick","field":"FIELD_TYPE_SELECT","options":[{"value":"a","name":"A"},{"value":"b","name":"B"}]}`,
		"city":      `{"name":"city","field":"FIELD_TYPE_SELECT","optionsFromServer":true}`,
		"owner":     `{"name":"owner","field":"FIELD_TYPE_FOREIGN_KEY","relatedModel":"users"}`,
		"maybe":     `{"name":"maybe","field":"FIELD_TYPE_INTEGER"}`,
		"needed":    `{"name":"needed","field":"FIELD_TYPE_CHAR","required":true}`,
		"defaulted": `{"name":"defaulted","field":"FIELD_TYPE_INTEGER","defaultValue":7}`,
	}
	for name, want := range tests {
		var wantParam pb.Param
		if err := protojson.Unmarshal([]byte(want), &wantParam); err != nil {
			t.Fatal(err)
		}
		gotJSON, _ := protojson.Marshal(params[name])
		wantJSON, _ := protojson.Marshal(&wantParam)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("%s:\n got  %s\n want %s", name, gotJSON, wantJSON)
		}
	}
}

func TestDeclarationMistakes(t *testing.T) {
	handler := func(ctx context.Context, req *jetactions.Request[struct{}]) (*jetactions.Result, error) {
		return nil, nil
	}
	type badType struct {
		C chan int `jet:"c"`
	}
	type badTime struct {
		T string `jet:"t,type=date"`
	}
	type badKey struct {
		F int `jet:"f,mandatory"`
	}
	type badDefault struct {
		N int `jet:"n,default=many"`
	}
	type noModel struct {
		F int `jet:"f,type=foreign_key"`
	}
	type twice struct {
		A string `jet:"a"`
		B string `jet:"a"`
	}
	tests := map[string]func(){
		"unsupported type": func() { jetactions.CommonAction("x", typed[badType]()) },
		"type mismatch":    func() { jetactions.CommonAction("x", typed[badTime]()) },
		"unknown tag":      func() { jetactions.CommonAction("x", typed[badKey]()) },
		"bad default":      func() { jetactions.CommonAction("x", typed[badDefault]()) },
		"fk without model": func() { jetactions.CommonAction("x", typed[noModel]()) },
		"input twice":      func() { jetactions.CommonAction("x", typed[twice]()) },
		"unknown Field":    func() { jetactions.CommonAction("x", handler, jetactions.Field("nope")) },
		"bulk on common":   func() { jetactions.CommonAction("x", handler, jetactions.Bulk()) },
		"zero timeout":     func() { jetactions.CommonAction("x", handler, jetactions.Timeout(0)) },
		"not a struct":     func() { jetactions.CommonAction("x", typed[int]()) },
		"duplicate name": func() {
			jetactions.NewServer("s").Handle(jetactions.CommonAction("x", handler), jetactions.CommonAction("x", handler))
		},
	}
	for name, declare := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			declare()
		})
	}
}

func typed[In any]() jetactions.Handler[In] {
	return func(ctx context.Context, req *jetactions.Request[In]) (*jetactions.Result, error) { return nil, nil }
}
