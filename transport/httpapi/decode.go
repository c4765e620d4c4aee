package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

const maxBodyBytes = 1 << 20

// decodeBody reads a JSON object strictly into dst: the media type must be
// JSON, the body at most 1 MiB of valid UTF-8, each member name exactly one
// of dst's fields (no case folding, no mass assignment) and given once, and
// nothing may follow the object. An empty body is allowed when optional.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any, optional bool) error {
	body := http.MaxBytesReader(w, r.Body, maxBodyBytes)
	raw, err := io.ReadAll(body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return newProblem(http.StatusRequestEntityTooLarge, codeRequestTooLarge, "The request body is over 1 MiB.")
	}
	if err != nil {
		return malformed("The request body could not be read.")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		if optional {
			return nil
		}
		return malformed("A JSON request body is required.")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return newProblem(http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "The request body must be application/json.")
	}
	// json/v2 refuses duplicate names and invalid UTF-8 (raw or as escaped
	// lone surrogates), and matches names case-sensitively, by default.
	dec := jsontext.NewDecoder(bytes.NewReader(raw))
	if err := json.UnmarshalDecode(dec, dst, json.RejectUnknownMembers(true)); err != nil {
		return decodeProblem(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return malformed("The request body has data after the JSON object.")
	}
	return nil
}

func decodeProblem(err error) *problem {
	var semantic *json.SemanticError
	var syntactic *jsontext.SyntacticError
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &syntactic):
		field := topMember(syntactic.JSONPointer)
		return newProblem(http.StatusBadRequest, codeMalformedRequest, fmt.Sprintf("Field %s is given more than once.", field), field)
	case errors.Is(err, json.ErrUnknownName) && errors.As(err, &semantic):
		name := topMember(semantic.JSONPointer)
		return invalid(fmt.Sprintf("Unknown field %s.", name), name)
	case errors.As(err, &semantic):
		field := topMember(semantic.JSONPointer)
		if field == "" {
			return malformed("The request body must be a JSON object.")
		}
		return newProblem(http.StatusBadRequest, codeMalformedRequest, fmt.Sprintf("Field %s has the wrong JSON type.", field), field)
	}
	return malformed("The request body is not valid JSON in UTF-8.")
}

// topMember is the member of the body's object that a JSON pointer is in
// ("emails" for /emails/0), or "" for the body itself.
func topMember(p jsontext.Pointer) string {
	for name := range p.Tokens() {
		return name
	}
	return ""
}
