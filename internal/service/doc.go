// Package service wires the invitations service together: event store, read
// store, projections, commands, queries and the HTTP API. cmd/invitesvc runs
// it; the end-to-end tests start it exactly the same way.
package service
