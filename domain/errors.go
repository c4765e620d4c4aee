package domain

import (
	"errors"
	"strings"
)

// Code identifies an error for API clients; it is part of the contract.
type Code string

const (
	CodeOrganizationNotFound      Code = "organization.not_found"
	CodeInvitationNotFound        Code = "organization.invitation_not_found"
	CodeInvitationAlreadyExists   Code = "organization.invitation_already_exists"
	CodeInvitationAlreadyAccepted Code = "organization.invitation_already_accepted"
	CodeInvitationCancelled       Code = "organization.invitation_cancelled"
	CodeInvitationExpired         Code = "organization.invitation_expired"
	CodeEmailMismatch             Code = "organization.invitation_email_mismatch"
	CodeAlreadyMember             Code = "organization.user_organization_already_belongs"
	CodeMemberNotFound            Code = "organization.member_not_found"
	CodeInvalidParameter          Code = "root.invalid_parameter"
	CodeForbidden                 Code = "root.forbidden"
	CodeIdempotencyKeyReused      Code = "root.idempotency_key_reused"
	CodePreconditionFailed        Code = "root.precondition_failed"
)

// Error is a rule violation that the caller can act on.
type Error struct {
	Code    Code
	Message string
	Fields  []string
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return string(e.Code) + ": " + e.Message
	}
	return string(e.Code) + ": " + e.Message + " (" + strings.Join(e.Fields, ", ") + ")"
}

// Is makes errors.Is match any *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// WithFields returns a copy of e tied to the given input fields.
func (e *Error) WithFields(fields ...string) *Error {
	c := *e
	c.Fields = fields
	return &c
}

var (
	ErrOrganizationNotFound      = &Error{Code: CodeOrganizationNotFound, Message: "Organization not found."}
	ErrInvitationNotFound        = &Error{Code: CodeInvitationNotFound, Message: "Invitation not found."}
	ErrInvitationAlreadyExists   = &Error{Code: CodeInvitationAlreadyExists, Message: "A pending invitation for this email already exists in the organization."}
	ErrInvitationAlreadyAccepted = &Error{Code: CodeInvitationAlreadyAccepted, Message: "The invitation has already been accepted."}
	ErrInvitationCancelled       = &Error{Code: CodeInvitationCancelled, Message: "The invitation has been cancelled."}
	ErrInvitationExpired         = &Error{Code: CodeInvitationExpired, Message: "The invitation has expired."}
	ErrEmailMismatch             = &Error{Code: CodeEmailMismatch, Message: "The invitation was sent to another email address."}
	ErrAlreadyMember             = &Error{Code: CodeAlreadyMember, Message: "The user already belongs to the organization."}
	ErrMemberNotFound            = &Error{Code: CodeMemberNotFound, Message: "The user is not a member of the organization.", Fields: []string{"user_id"}}
	ErrForbidden                 = &Error{Code: CodeForbidden, Message: "The token lacks the permission for this organization."}
	ErrIdempotencyKeyReused      = &Error{Code: CodeIdempotencyKeyReused, Message: "This Idempotency-Key was used with a different request."}
	ErrPreconditionFailed        = &Error{Code: CodePreconditionFailed, Message: "The resource is not in the state If-Match or If-None-Match names (its ETag changed); nothing was changed. Read it again and decide again."}
	ErrInvalidOrganizationID     = &Error{Code: CodeInvalidParameter, Fields: []string{"organization_id"},
		Message: "organization_id must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$ and not be a word the routes use in its place (" + strings.Join(ReservedOrganizationIDs, ", ") + ")."}
	ErrInvalidName = &Error{Code: CodeInvalidParameter, Fields: []string{"name"},
		Message: "name must have 1 to 200 characters after trimming, and no control, format, line or paragraph separator or private-use character."}
	ErrInvalidEmail = &Error{Code: CodeInvalidParameter,
		Message: "Not a valid email address: a dot-atom local part of at most 64 octets (no character that normalization would replace, no control or format character) at a hostname, at most 254 octets in all."}
)

// Failures of the stores behind the domain's decisions; nothing was written
// and a retry is the remedy. Every store wraps its failures in these.
var (
	// ErrConflict means another writer changed one of the aggregates since
	// it was loaded.
	ErrConflict = errors.New("event store: concurrent change")
	// ErrUnavailable means the event store or a read store could not be reached.
	ErrUnavailable = errors.New("store unavailable")
)
