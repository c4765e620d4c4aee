// Package client is a typed Go client of the invitesvc HTTP API, generated
// by oapi-codegen from the OpenAPI document transport/httpapi/openapi.json
// (see the example). Every answer has a field per documented status:
// JSON201 for a created invitation, JSON404 for a not-found error as an
// ErrorEnvelope, and so on.
//
// client.gen.go is generated: change the OpenAPI document and run
// `go generate ./client/`; CI fails when the committed file differs from
// what the generator makes. The generator runs as `go run pkg@version`, so
// it is built from its own release with its own dependencies and adds none
// to this module; only its small runtime package is a dependency.
package client

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml ../transport/httpapi/openapi.json
