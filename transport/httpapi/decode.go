package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

const maxBodyBytes = 1 << 20

// decodeBody reads a JSON object strictly into dst: the media type must be
// JSON, the body at most 1 MiB, every field known (no mass assignment) and
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
	if len(strings.TrimSpace(string(raw))) == 0 {
		if optional {
			return nil
		}
		return malformed("A JSON request body is required.")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return newProblem(http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "The request body must be application/json.")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeProblem(err)
	}
	if dec.More() {
		return malformed("The request body has data after the JSON object.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed("The request body has data after the JSON object.")
	}
	return nil
}

func decodeProblem(err error) *problem {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return malformed("The request body must be a JSON object.")
		}
		return newProblem(http.StatusBadRequest, codeMalformedRequest, fmt.Sprintf("Field %s has the wrong JSON type.", field), field)
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("The request body is not valid JSON.")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return invalid(fmt.Sprintf("Unknown field %s.", name), name)
	}
	return malformed("The request body is not valid JSON.")
}
