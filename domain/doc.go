// Package domain holds the rules of organizations, invitations and memberships
// as pure Go: state, events, decisions and their coded errors. It does no I/O,
// reads no clock and draws no random numbers: callers pass them in.
package domain
