// Command library is a small action server for the tests only: a lending
// library (books, members, loans), in another domain than the example shop,
// for the conformance suite's generic mode, which checks any server from its
// ListActions alone.
//
//	library [--address 127.0.0.1:50071]   (or JETACTIONS_ADDRESS)
//
// lend_book is its one action with a side effect (it records a loan).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/jetbridge/jetbridge-grpc/sdk_go/jetactions"
)

type book struct {
	ID     int    `json:"id"`
	Title  string `json:"title"`
	Genre  string `json:"genre"`
	Branch string `json:"branch"`
}

var (
	genres = []jetactions.Option{{Value: "fiction", Name: "Fiction"}, {Value: "science", Name: "Science"}, {Value: "history", Name: "History"}}
	// branches lists the branches holding each genre: the options of (books, branch) follow the form's genre.
	branches = map[string][]jetactions.Option{
		"fiction": {{Value: "central", Name: "Central", Color: "blue"}, {Value: "harbour", Name: "Harbour", Color: "green"}},
		"science": {{Value: "central", Name: "Central", Color: "blue"}},
		"history": {{Value: "old_town", Name: "Old Town", Color: "orange"}},
	}
)

type library struct {
	mu    sync.Mutex
	books []book
	loans []string
}

type lendInput struct {
	Member jetactions.ID `jet:"member,model=members,label=Member"`
	Due    time.Time     `jet:"due,type=date,label=Due on"`
	Note   string        `jet:"note,type=text,optional"`
}

func (l *library) lend(_ context.Context, req *jetactions.Request[lendInput]) (*jetactions.Result, error) {
	if !req.Input.Due.After(time.Now()) {
		return nil, jetactions.FieldError("due", "must be in the future")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range req.IDs {
		l.loans = append(l.loans, fmt.Sprintf("book %s to member %s until %s", id, req.Input.Member, req.Input.Due.Format(time.DateOnly)))
	}
	return &jetactions.Result{Message: fmt.Sprintf("Lent %d books", len(req.IDs)), Extra: map[string]any{"loans": len(l.loans)}}, nil
}

type searchInput struct {
	Query     string  `jet:"query,label=Title contains"`
	Genre     *string `jet:"genre"`
	Limit     int     `jet:"limit,default=10"`
	Available bool    `jet:"available_only,default=false"`
}

func (l *library) search(_ context.Context, req *jetactions.Request[searchInput]) (*jetactions.Result, error) {
	if req.Input.Limit < 1 {
		return nil, jetactions.FieldError("limit", "must be at least 1")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	found := []book{}
	for _, b := range l.books {
		if strings.Contains(strings.ToLower(b.Title), strings.ToLower(req.Input.Query)) &&
			(req.Input.Genre == nil || *req.Input.Genre == b.Genre) && len(found) < req.Input.Limit {
			found = append(found, b)
		}
	}
	return jetactions.Value(found), nil
}

type reserveInput struct {
	Branch string             `jet:"branch,server_options"`
	Pickup *time.Time         `jet:"pickup_at,label=Pick up at"`
	Fee    jetactions.Decimal `jet:"fee,default=0.50"`
}

func reserve(_ context.Context, req *jetactions.Request[reserveInput]) (*jetactions.Result, error) {
	if req.Input.Fee.Sign() < 0 {
		return nil, jetactions.FieldError("fee", "cannot be negative")
	}
	return jetactions.HTML(fmt.Sprintf("Reserved <b>%d</b> books at %s (fee %s)", len(req.IDs), req.Input.Branch, req.Input.Fee)), nil
}

type exportInput struct {
	Fields map[string]any `jet:"options,optional"`
}

func (l *library) export(_ context.Context, req *jetactions.Request[exportInput]) (*jetactions.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	data, err := json.Marshal(l.books)
	if indent, _ := req.Input.Fields["indent"].(bool); indent {
		data, err = json.MarshalIndent(l.books, "", "  ")
	}
	if err != nil {
		return nil, err
	}
	return jetactions.Download("books.json", "application/json", data), nil
}

type closeInput struct {
	Reason string `jet:"reason"`
}

// closeBranch shows a status error: the reason "budget" is refused with FAILED_PRECONDITION.
func closeBranch(_ context.Context, req *jetactions.Request[closeInput]) (*jetactions.Result, error) {
	if req.Input.Reason == "budget" {
		return nil, jetactions.Errorf(codes.FailedPrecondition, "only the city council closes branches for budget reasons")
	}
	return jetactions.Message("Closing noted: %s", req.Input.Reason), nil
}

func branchOptions(_ context.Context, req *jetactions.FieldRequest) ([]jetactions.Option, error) {
	genre, _ := req.Form["genre"].(string)
	return branches[genre], nil
}

func newServer(opts ...jetactions.ServerOption) *jetactions.Server {
	l := &library{books: []book{
		{1, "Dune", "fiction", "central"}, {2, "A Brief History of Time", "science", "central"},
		{3, "The Guns of August", "history", "old_town"}, {4, "Foundation", "fiction", "harbour"},
	}}
	srv := jetactions.NewServer("library", opts...)
	srv.Handle(
		jetactions.ModelAction("lend_book", "books", l.lend, jetactions.ForInstance(), jetactions.Bulk(),
			jetactions.Label("Lend"), jetactions.Icon("book"), jetactions.Description("Records a loan (a side effect)")),
		jetactions.CommonAction("search_books", l.search, jetactions.Label("Search books"), jetactions.Idempotent(),
			jetactions.Timeout(5*time.Second), jetactions.Field("genre", jetactions.Choices(genres...))),
		jetactions.ModelAction("reserve_book", "books", reserve, jetactions.AlsoOn("ebooks"), jetactions.ForInstance(),
			jetactions.Label("Reserve")),
		jetactions.ModelAction("export_books", "books", l.export, jetactions.Label("Export books"), jetactions.Idempotent(),
			jetactions.Field("options", jetactions.Help(`A JSON object, e.g. {"indent": true}`))),
		jetactions.CommonAction("close_branch", closeBranch, jetactions.Label("Close a branch")),
	)
	srv.HandleFieldOptions("books", "branch", branchOptions)
	srv.HandleFieldOptions("ebooks", "branch", branchOptions)
	return srv
}

func main() {
	address := flag.String("address", os.Getenv("JETACTIONS_ADDRESS"), "host:port to listen on (env JETACTIONS_ADDRESS)")
	flag.Parse()
	if err := newServer().Run(*address); err != nil {
		slog.Error("library stopped", "error", err)
		os.Exit(1)
	}
}
