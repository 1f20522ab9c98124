// Command shop is the example action server of examples/ACTIONS.md in Go.
//
//	shop [--address 127.0.0.1:50052] [--prefix go_]
//
// JETACTIONS_ADDRESS and JETACTIONS_PREFIX are the defaults of the two flags.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"flag"
	"html"
	"log/slog"
	"os"
	"strconv"
	"sync"

	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions"
)

var (
	carriers  = []jetactions.Option{{Value: "dhl", Name: "DHL"}, {Value: "ups", Name: "UPS"}}
	countries = []jetactions.Option{{Value: "italy", Name: "Italy"}, {Value: "uk", Name: "United Kingdom"}}
	cities    = map[string][]jetactions.Option{
		"italy": {{Value: "rome", Name: "Rome", Color: "red"}, {Value: "milan", Name: "Milan", Color: "green"}},
		"uk":    {{Value: "london", Name: "London", Color: "blue"}, {Value: "leeds", Name: "Leeds", Color: "yellow"}},
	}
)

type user struct {
	id          int
	name, email string
	wallet      jetactions.Decimal
}

// shop holds the users table; every start begins with the same five users.
type shop struct {
	mu    sync.Mutex
	users []*user
}

func newShop() *shop {
	d := jetactions.MustDecimal
	return &shop{users: []*user{
		{1, "Ada", "ada@example.com", d("10.00")}, {2, "Brian", "brian@example.com", d("0.00")},
		{3, "Chen", "chen@example.com", d("25.50")}, {4, "Dana", "dana@example.com", d("3.75")},
		{5, "Emil", "emil@example.com", d("100.00")},
	}}
}

// find returns the user of an id; Jet sends ids as numbers or strings.
func (s *shop) find(id jetactions.ID) (*user, error) {
	for _, u := range s.users {
		if strconv.Itoa(u.id) == id.String() {
			return u, nil
		}
	}
	return nil, jetactions.NonFieldError("Unknown user id: " + id.String())
}

type mailInput struct {
	Subject string `jet:"subject"`
	Body    string `jet:"body,type=text,default="`
	Urgent  bool   `jet:"urgent,default=false"`
}

func (s *shop) mailUsers(_ context.Context, req *jetactions.Request[mailInput]) (*jetactions.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range req.IDs {
		if _, err := s.find(id); err != nil {
			return nil, err
		}
	}
	count := len(req.IDs)
	if req.InverseIDs {
		count = len(s.users) - count
	}
	return jetactions.Message("Mailed %d users", count), nil
}

type walletInput struct {
	Amount jetactions.Decimal `jet:"amount"`
}

func (s *shop) adjustWallet(_ context.Context, req *jetactions.Request[walletInput]) (*jetactions.Result, error) {
	if req.Input.Amount.Sign() <= 0 {
		return nil, jetactions.FieldError("amount", "must be positive")
	}
	id, ok := req.ID()
	if !ok {
		return nil, jetactions.NonFieldError("Select a user")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.find(id)
	if err != nil {
		return nil, err
	}
	u.wallet = u.wallet.Add(req.Input.Amount)
	return jetactions.HTML("Wallet of <strong>" + html.EscapeString(u.name) + "</strong> was updated"), nil
}

func (s *shop) exportUsers(context.Context, *jetactions.Request[struct{}]) (*jetactions.Result, error) {
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	s.mu.Lock()
	_ = w.Write([]string{"id", "name", "email"})
	for _, u := range s.users {
		_ = w.Write([]string{strconv.Itoa(u.id), u.name, u.email})
	}
	s.mu.Unlock()
	w.Flush()
	return jetactions.Download("users.csv", "text/csv", out.Bytes()), nil
}

type shipInput struct {
	Carrier string `jet:"carrier"`
	Country string `jet:"country"`
	City    string `jet:"city,server_options"`
}

func shipOrder(_ context.Context, req *jetactions.Request[shipInput]) (*jetactions.Result, error) {
	id, ok := req.ID()
	if !ok {
		return nil, jetactions.NonFieldError("Select an order")
	}
	city, ok := nameOf(cities[req.Input.Country], req.Input.City)
	if !ok {
		country, _ := nameOf(countries, req.Input.Country)
		return nil, jetactions.FieldError("city", "not a city of "+country)
	}
	// Named as the user saw them on the form ("DHL", "Rome"), not by their values.
	carrier, _ := nameOf(carriers, req.Input.Carrier)
	return jetactions.Message("Order %s ships with %s to %s", id, carrier, city), nil
}

func refreshStats(context.Context, *jetactions.Request[struct{}]) (*jetactions.Result, error) {
	return nil, nil // {"result": true}
}

func cityOptions(_ context.Context, req *jetactions.FieldRequest) ([]jetactions.Option, error) {
	country, _ := req.Form["country"].(string)
	return cities[country], nil
}

func nameOf(options []jetactions.Option, value string) (string, bool) {
	for _, o := range options {
		if o.Value == value {
			return o.Name, true
		}
	}
	return value, false
}

// newServer declares the shop; prefix goes in front of every action and model name.
func newServer(prefix string, opts ...jetactions.ServerOption) *jetactions.Server {
	s, users, orders := newShop(), prefix+"users", prefix+"orders"
	srv := jetactions.NewServer(prefix+"shop", opts...)
	srv.Handle(
		jetactions.ModelAction(prefix+"mail_users", users, s.mailUsers,
			jetactions.ForInstance(), jetactions.Bulk(), jetactions.Label("Mail users"), jetactions.Icon("email")),
		jetactions.ModelAction(prefix+"adjust_wallet", users, s.adjustWallet,
			jetactions.ForInstance(), jetactions.Label("Adjust wallet")),
		jetactions.ModelAction(prefix+"export_users", users, s.exportUsers, jetactions.Label("Export users")),
		jetactions.ModelAction(prefix+"ship_order", orders, shipOrder, jetactions.ForInstance(), jetactions.Label("Ship order"),
			jetactions.Field("carrier", jetactions.Choices(carriers...)),
			jetactions.Field("country", jetactions.Choices(countries...))),
		jetactions.CommonAction(prefix+"refresh_stats", refreshStats, jetactions.Label("Refresh stats")),
	)
	srv.HandleFieldOptions(orders, "city", cityOptions)
	return srv
}

func main() {
	address := flag.String("address", cmp.Or(os.Getenv("JETACTIONS_ADDRESS"), "127.0.0.1:50052"), "host:port to listen on (env JETACTIONS_ADDRESS)")
	prefix := flag.String("prefix", os.Getenv("JETACTIONS_PREFIX"), "put in front of every action and model name (env JETACTIONS_PREFIX)")
	flag.Parse()
	if err := newServer(*prefix).Run(*address); err != nil {
		slog.Error("shop stopped", "error", err)
		os.Exit(1)
	}
}
