package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/jetbridge-grpc/examples/go/gen/jetactions/v1"
)

// user is one row of the in-memory users table of examples/ACTIONS.md.
type user struct {
	id     int64
	name   string
	email  string
	wallet float64
}

// The options of the select fields; shared, never modified.
var (
	carriers  = []*pb.Option{option("dhl", "DHL", ""), option("ups", "UPS", "")}
	countries = []*pb.Option{option("italy", "Italy", ""), option("uk", "United Kingdom", "")}
	cities    = map[string][]*pb.Option{
		"italy": {option("rome", "Rome", "red"), option("milan", "Milan", "green")},
		"uk":    {option("london", "London", "blue"), option("leeds", "Leeds", "yellow")},
	}
)

// shop serves the example actions of examples/ACTIONS.md. Every action and
// model name it declares or accepts starts with prefix.
type shop struct {
	pb.UnimplementedActionServiceServer

	prefix  string
	actions []*pb.Action          // built once, never modified: ListActions shares them
	byName  map[string]*pb.Action // the same, by name

	mu    sync.Mutex // guards users
	users []user
}

func newShop(prefix string) *shop {
	s := &shop{
		prefix:  prefix,
		actions: catalog(prefix),
		byName:  map[string]*pb.Action{},
		users: []user{
			{id: 1, name: "Ada", email: "ada@example.com", wallet: 10.00},
			{id: 2, name: "Brian", email: "brian@example.com", wallet: 0.00},
			{id: 3, name: "Chen", email: "chen@example.com", wallet: 25.50},
			{id: 4, name: "Dana", email: "dana@example.com", wallet: 3.75},
			{id: 5, name: "Emil", email: "emil@example.com", wallet: 100.00},
		},
	}
	for _, a := range s.actions {
		s.byName[a.GetName()] = a
	}
	return s
}

// catalog declares the actions in the order of examples/ACTIONS.md.
func catalog(prefix string) []*pb.Action {
	users, orders := prefix+"users", prefix+"orders"
	return []*pb.Action{
		{
			Name:  prefix + "mail_users",
			Label: "Mail users",
			Icon:  "email",
			Kind:  modelAction(users, true, true),
			Params: []*pb.Param{
				{Name: "subject", Field: pb.FieldType_FIELD_TYPE_CHAR, Required: true},
				{Name: "body", Field: pb.FieldType_FIELD_TYPE_TEXT, DefaultValue: structpb.NewStringValue("")},
				{Name: "urgent", Field: pb.FieldType_FIELD_TYPE_BOOLEAN, DefaultValue: structpb.NewBoolValue(false)},
			},
		},
		{
			Name:  prefix + "adjust_wallet",
			Label: "Adjust wallet",
			Kind:  modelAction(users, true, false),
			Params: []*pb.Param{
				{Name: "amount", Field: pb.FieldType_FIELD_TYPE_DECIMAL, Required: true},
			},
		},
		{
			Name:  prefix + "export_users",
			Label: "Export users",
			Kind:  modelAction(users, false, false),
		},
		{
			Name:  prefix + "ship_order",
			Label: "Ship order",
			Kind:  modelAction(orders, true, false),
			Params: []*pb.Param{
				{Name: "carrier", Field: pb.FieldType_FIELD_TYPE_SELECT, Required: true, Options: carriers},
				{Name: "country", Field: pb.FieldType_FIELD_TYPE_SELECT, Required: true, Options: countries},
				{Name: "city", Field: pb.FieldType_FIELD_TYPE_SELECT, Required: true, OptionsFromServer: true},
			},
		},
		{
			Name:  prefix + "refresh_stats",
			Label: "Refresh stats",
			Kind:  &pb.Action_CommonAction{CommonAction: &pb.CommonAction{}},
		},
	}
}

func (s *shop) ListActions(ctx context.Context, _ *pb.ListActionsRequest) (*pb.ListActionsResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	return &pb.ListActionsResponse{
		Actions:      s.actions,
		FieldOptions: []*pb.FieldRef{{Model: s.prefix + "orders", Field: "city"}},
	}, nil
}

// ExecuteAction runs one action. Invalid inputs are answered with field
// errors (see validate); an unknown action is NOT_FOUND and an id that is
// neither a number nor a string INVALID_ARGUMENT.
func (s *shop) ExecuteAction(ctx context.Context, req *pb.ExecuteActionRequest) (*pb.ExecuteActionResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	action := s.byName[req.GetAction()]
	if action == nil {
		return nil, status.Errorf(codes.NotFound, "unknown action %q", req.GetAction())
	}
	for _, id := range req.GetIds() {
		switch id.GetKind().(type) {
		case *structpb.Value_NumberValue, *structpb.Value_StringValue:
		default:
			return nil, status.Error(codes.InvalidArgument, "ids must be numbers or strings")
		}
	}
	if errs := validate(action.GetParams(), req.GetInputs()); errs != nil {
		return fieldErrors(&pb.FieldErrors{Fields: errs}), nil
	}
	switch strings.TrimPrefix(action.GetName(), s.prefix) {
	case "mail_users":
		return s.mailUsers(req), nil
	case "adjust_wallet":
		return s.adjustWallet(req), nil
	case "export_users":
		return s.exportUsers(), nil
	case "ship_order":
		return shipOrder(req), nil
	default: // refresh_stats
		return result(&pb.Result{}), nil
	}
}

// GetFieldOptions answers for (orders, city): the cities of form.country.
func (s *shop) GetFieldOptions(ctx context.Context, req *pb.GetFieldOptionsRequest) (*pb.GetFieldOptionsResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	if req.GetModel() != s.prefix+"orders" || req.GetField() != "city" {
		return nil, status.Errorf(codes.NotFound, "no field options for model %q, field %q", req.GetModel(), req.GetField())
	}
	return &pb.GetFieldOptionsResponse{Options: cities[text(req.GetForm().GetFields()["country"])]}, nil
}

func (s *shop) mailUsers(req *pb.ExecuteActionRequest) *pb.ExecuteActionResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	selected := map[int64]bool{}
	for _, v := range req.GetIds() {
		u := s.lookup(v)
		if u == nil {
			return unknownUser(v)
		}
		selected[u.id] = true
	}
	n := len(req.GetIds())
	if req.GetInverseIds() {
		// Every user except the selected ones (select all, then deselect).
		n = len(s.users) - len(selected)
	}
	return result(&pb.Result{Message: ptr(fmt.Sprintf("Mailed %d users", n))})
}

func (s *shop) adjustWallet(req *pb.ExecuteActionRequest) *pb.ExecuteActionResponse {
	amount, positive, _ := decimal(req.GetInputs().GetFields()["amount"]) // validated
	if !positive {
		return fieldErrors(&pb.FieldErrors{Fields: map[string]*pb.ErrorList{
			"amount": {Messages: []string{"must be positive"}},
		}})
	}
	ids := req.GetIds()
	if len(ids) == 0 {
		return fieldErrors(&pb.FieldErrors{NonFieldErrors: []string{"Select a user"}})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.lookup(ids[0])
	if u == nil {
		return unknownUser(ids[0])
	}
	u.wallet = math.Round((u.wallet+amount)*100) / 100
	return result(&pb.Result{Html: ptr("Wallet of <strong>" + html.EscapeString(u.name) + "</strong> was updated")})
}

func (s *shop) exportUsers() *pb.ExecuteActionResponse {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf) // "\n" line endings, quotes only where needed
	_ = w.Write([]string{"id", "name", "email"})
	s.mu.Lock()
	for _, u := range s.users {
		_ = w.Write([]string{strconv.FormatInt(u.id, 10), u.name, u.email})
	}
	s.mu.Unlock()
	w.Flush() // writing to a bytes.Buffer cannot fail
	return &pb.ExecuteActionResponse{Outcome: &pb.ExecuteActionResponse_File{File: &pb.File{
		Filename:    "users.csv",
		ContentType: "text/csv",
		Content:     buf.Bytes(),
	}}}
}

// shipOrder names the carrier and the city by their option names ("DHL",
// "Rome"), as the user saw them on the form.
func shipOrder(req *pb.ExecuteActionRequest) *pb.ExecuteActionResponse {
	ids := req.GetIds()
	if len(ids) == 0 {
		return fieldErrors(&pb.FieldErrors{NonFieldErrors: []string{"Select an order"}})
	}
	inputs := req.GetInputs().GetFields()
	country, city := text(inputs["country"]), text(inputs["city"])
	if !hasOption(cities[country], city) {
		return fieldErrors(&pb.FieldErrors{Fields: map[string]*pb.ErrorList{
			"city": {Messages: []string{"not a city of " + nameOf(countries, country)}},
		}})
	}
	carrier := nameOf(carriers, text(inputs["carrier"]))
	return result(&pb.Result{Message: ptr(fmt.Sprintf(
		"Order %s ships with %s to %s", text(ids[0]), carrier, nameOf(cities[country], city),
	))})
}

// nameOf is the name of the option whose value is value, or value itself.
func nameOf(options []*pb.Option, value string) string {
	for _, o := range options {
		if o.GetValue().GetStringValue() == value {
			return o.GetName()
		}
	}
	return value
}

func hasOption(options []*pb.Option, value string) bool {
	for _, o := range options {
		if o.GetValue().GetStringValue() == value {
			return true
		}
	}
	return false
}

func unknownUser(id *structpb.Value) *pb.ExecuteActionResponse {
	return fieldErrors(&pb.FieldErrors{NonFieldErrors: []string{"Unknown user id: " + text(id)}})
}

// lookup finds the user an id names. Ids keep their JSON type, so user 1 may
// arrive as the number 1 or as the string "1". The caller holds s.mu.
func (s *shop) lookup(v *structpb.Value) *user {
	id := text(v)
	for i := range s.users {
		if strconv.FormatInt(s.users[i].id, 10) == id {
			return &s.users[i]
		}
	}
	return nil
}

// text renders a JSON value for a human: strings as they are, whole numbers
// without a fraction, anything else as JSON.
func text(v *structpb.Value) string {
	switch k := v.GetKind().(type) {
	case nil:
		return ""
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_NumberValue:
		if k.NumberValue == math.Trunc(k.NumberValue) && math.Abs(k.NumberValue) <= 1<<53 {
			return strconv.FormatInt(int64(k.NumberValue), 10)
		}
		return strconv.FormatFloat(k.NumberValue, 'g', -1, 64)
	default:
		b, err := json.Marshal(v.AsInterface())
		if err != nil {
			return ""
		}
		return string(b)
	}
}

func modelAction(model string, forInstance, bulk bool) *pb.Action_ModelAction {
	return &pb.Action_ModelAction{ModelAction: &pb.ModelAction{
		Models: []string{model}, ForInstance: forInstance, Bulk: bulk,
	}}
}

func option(value, name, color string) *pb.Option {
	return &pb.Option{Value: structpb.NewStringValue(value), Name: name, Color: color}
}

// result is a successful outcome; its value is always true here.
func result(r *pb.Result) *pb.ExecuteActionResponse {
	r.Value = structpb.NewBoolValue(true)
	return &pb.ExecuteActionResponse{Outcome: &pb.ExecuteActionResponse_Result{Result: r}}
}

func fieldErrors(e *pb.FieldErrors) *pb.ExecuteActionResponse {
	return &pb.ExecuteActionResponse{Outcome: &pb.ExecuteActionResponse_Errors{Errors: e}}
}

func ptr(s string) *string { return &s }
