// Package httpapi is the HTTP adapter: the routes of the contract (gorilla/mux),
// bearer-token authentication, the error envelope and pagination links.
//
// The handlers serve from small ports declared here (Commands, Queries,
// EventLog, Verifier), so that each can be tested against fakes of them.
package httpapi
