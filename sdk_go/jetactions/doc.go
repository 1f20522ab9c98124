// Package jetactions is the Go SDK for writing action servers behind the Jet
// bridge: declare actions once, with their inputs as a tagged struct, and
// serve them over gRPC (jetactions.v1.ActionService).
//
// An action is built by a generic constructor, because Go methods cannot take
// type parameters: [ModelAction] and [CommonAction] infer the input type from
// the handler. The Jet form in ListActions follows from the struct, and every
// input is validated and converted before the handler runs; invalid inputs go
// back to Jet as field errors and the handler is not called.
//
// # Inputs
//
// Each exported field of the input struct is one input, named by its jet tag
// (or, untagged, by its name in snake case; `jet:"-"` skips it). Options
// follow the name, comma-separated:
//
//	label=TEXT       the label Jet shows (use Field and FieldLabel for commas)
//	help=TEXT        the help text under the input
//	type=NAME        the Jet field: char, text, code, sql, translatable, select,
//	                 integer, float, decimal, boolean, datetime, date, time,
//	                 timestamp, json, foreign_key
//	optional         the form may leave it empty (the zero value then)
//	default=VALUE    optional; the form starts with VALUE, the handler gets it
//	server_options   a select whose options come from HandleFieldOptions
//	model=NAME       a ForeignKey to the collection NAME
//
// The Go type gives the field type when no type= is given: string (CharField),
// integers (IntegerField), floats (FloatField), [Decimal] (DecimalField), bool
// (BooleanField), time.Time (DateTimeField), [ID] (CharField; a ForeignKey with
// model=), and maps, slices, structs or any (JSONField). A pointer makes any of
// them optional (nil when missing). Everything else is required.
//
// # Serving
//
// A [Server] serves the actions with grpc.health.v1, server reflection,
// explicit message limits, the bridge's shared secret, TLS, and a graceful
// drain when its context ends (or on SIGTERM with [Server.Run]); its settings
// come from the JETACTIONS_* environment variables and JETBRIDGE_SECRET, under
// the [ServerOption] values given to [NewServer]. Package jetactionstest calls
// actions in-process, through a real gRPC stub, for the users' own unit tests.
package jetactions
