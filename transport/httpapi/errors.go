package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/invitesvc/invitesvc/domain"
)

// Codes of the errors the HTTP layer itself raises.
const (
	codeRouteNotFound         = "root.not_found"
	codeMalformedRequest      = "root.malformed_request"
	codeInvalidAuthentication = "root.invalid_authentication"
	codeMethodNotAllowed      = "root.method_not_allowed"
	codeRequestTooLarge       = "root.request_too_large"
	codeUnsupportedMediaType  = "root.unsupported_media_type"
	codeRateLimited           = "root.rate_limited"
	codeInternal              = "root.internal_error"
	codeUnavailable           = "root.unavailable"
	// codeConcurrentModification: commands kept changing the aggregate
	// while this one decided; nothing was changed, and a retry may win.
	codeConcurrentModification = "root.concurrent_modification"
)

// apiError is one entry of the error envelope.
type apiError struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Fields  []string `json:"fields,omitempty"`
}

// problem is an error answer: a status and its envelope entries.
type problem struct {
	status int
	errors []apiError
	header http.Header // extra headers, e.g. Allow or Retry-After
}

func (p *problem) Error() string { return p.errors[0].Code + ": " + p.errors[0].Message }

func newProblem(status int, code, message string, fields ...string) *problem {
	return &problem{status: status, errors: []apiError{{Code: code, Message: message, Fields: fields}}}
}

func (p *problem) with(key, value string) *problem {
	if p.header == nil {
		p.header = http.Header{}
	}
	p.header.Set(key, value)
	return p
}

func malformed(message string) *problem {
	return newProblem(http.StatusBadRequest, codeMalformedRequest, message)
}

func invalid(message string, fields ...string) *problem {
	return newProblem(http.StatusBadRequest, string(domain.CodeInvalidParameter), message, fields...)
}

func unauthenticated(message string) *problem {
	return newProblem(http.StatusUnauthorized, codeInvalidAuthentication, message).
		with("WWW-Authenticate", `Bearer realm="invitesvc"`)
}

func unavailable() *problem {
	return newProblem(http.StatusServiceUnavailable, codeUnavailable,
		"A backing store cannot be reached; nothing was changed. Retry later.").with("Retry-After", "1")
}

func methodNotAllowed(allow string) *problem {
	return newProblem(http.StatusMethodNotAllowed, codeMethodNotAllowed, "Method not allowed on this route.").with("Allow", allow)
}

func concurrentModification() *problem {
	return newProblem(http.StatusConflict, codeConcurrentModification,
		"Other requests were changing the same resource at the same time; nothing was changed. Retry later.").with("Retry-After", "1")
}

var internal = newProblem(http.StatusInternalServerError, codeInternal, "Internal error.")

var domainStatus = map[domain.Code]int{
	domain.CodeOrganizationNotFound:      http.StatusNotFound,
	domain.CodeInvitationNotFound:        http.StatusNotFound,
	domain.CodeInvitationAlreadyExists:   http.StatusConflict,
	domain.CodeInvitationAlreadyAccepted: http.StatusConflict,
	domain.CodeInvitationCancelled:       http.StatusConflict,
	domain.CodeInvitationExpired:         http.StatusGone,
	domain.CodeEmailMismatch:             http.StatusForbidden,
	domain.CodeAlreadyMember:             http.StatusBadRequest,
	domain.CodeMemberNotFound:            http.StatusNotFound,
	domain.CodeInvalidParameter:          http.StatusBadRequest,
	domain.CodeForbidden:                 http.StatusForbidden,
	domain.CodeIdempotencyKeyReused:      http.StatusUnprocessableEntity,
	domain.CodeWebhookNotFound:           http.StatusNotFound,
	domain.CodeDeliveryNotFound:          http.StatusNotFound,
	domain.CodeWebhookDisabled:           http.StatusConflict,
	domain.CodePreconditionFailed:        http.StatusPreconditionFailed,
}

// toProblem maps any error to its answer. Store failures are 503, races
// lost more often than the retries allow 409: retrying is the remedy.
func toProblem(err error) (*problem, bool) {
	var p *problem
	if errors.As(err, &p) {
		return p, true
	}
	if violations := domain.Violations(err); len(violations) > 0 {
		out := &problem{status: domainStatus[violations[0].Code]}
		for _, e := range violations {
			out.errors = append(out.errors, apiError{Code: string(e.Code), Message: e.Message, Fields: e.Fields})
		}
		return out, true
	}
	if errors.Is(err, domain.ErrConflict) {
		return concurrentModification(), true
	}
	if errors.Is(err, domain.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return unavailable(), true
	}
	return internal, false
}

func writeProblem(w http.ResponseWriter, p *problem) {
	codes := make([]string, len(p.errors))
	for i, e := range p.errors {
		codes[i] = e.Code
	}
	for k, v := range p.header {
		w.Header()[k] = v
	}
	w.Header().Set("X-Error-Codes", strings.Join(codes, ","))
	writeJSON(w, p.status, map[string]any{"errors": p.errors})
}
