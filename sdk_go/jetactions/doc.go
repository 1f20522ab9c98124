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
// A [Server] serves the actions with grpc.health.v1, server reflection,
// explicit message limits, the bridge's shared secret, TLS, and a graceful
// drain when its context ends (or on SIGTERM with [Server.Run]). Package
// jetactionstest calls actions in-process, through a real gRPC stub, for the
// users' own unit tests.
package jetactions
