package service_test

// The OpenAPI document (transport/httpapi/openapi.json) is checked three ways:
//
//   - TestOpenAPILint loads it with kin-openapi, validates it as OpenAPI 3.1
//     and applies the project's own rules (CI runs it as the lint step);
//   - the harness's do() validates every answer of every end-to-end test
//     against it (checkContract): an undocumented route, method or status, a
//     missing or wrong header or a body off its schema fails the test, and
//     so does a 2xx answer to a request the document calls invalid;
//   - TestOpenAPIServed and TestOpenAPIRoutes check it is served, and that
//     each documented path has exactly the documented methods.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	jsonv2 "github.com/go-json-experiment/json"

	"github.com/invitesvc/invitesvc/transport/httpapi"
)

// contract is the loaded document and a router over its operations.
type contract struct {
	doc    *openapi3.T
	router routers.Router
}

// loadOpenAPI parses and validates an OpenAPI document the way the harness
// and the lint step do.
func loadOpenAPI(raw []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	err = doc.Validate(loader.Context,
		openapi3.EnableSchemaPatternValidation(), openapi3.EnableSchemaDefaultsValidation(),
		openapi3.EnableExamplesValidation(), openapi3.EnableMultiError())
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	return doc, nil
}

var theContract = sync.OnceValues(func() (*contract, error) {
	doc, err := loadOpenAPI(httpapi.OpenAPIDocument())
	if err != nil {
		return nil, err
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return &contract{doc: doc, router: router}, nil
})

// checkContract fails the test unless the exchange is one the document
// describes.
func (s *stack) checkContract(req *http.Request, sent []byte, res *http.Response, raw []byte) {
	s.t.Helper()
	if err := validateExchange(req.Method, req.URL.String(), req.Header, sent, res.StatusCode, res.Header, raw); err != nil {
		s.t.Errorf("%s %s: answer %d breaks the OpenAPI document: %v", req.Method, req.URL.RequestURI(), res.StatusCode, err)
	}
}

var validationOptions = &openapi3filter.Options{
	IncludeResponseStatus:             true, // an undocumented status is an error
	RejectWhenRequestBodyNotSpecified: true,
	MultiError:                        true,
	AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
		if in.SecurityScheme.Type == "http" && in.SecurityScheme.Scheme == "bearer" {
			if h := in.RequestValidationInput.Request.Header.Get("Authorization"); !strings.HasPrefix(h, "Bearer ") {
				return errors.New("no bearer token")
			}
		}
		return nil
	},
}

// validateExchange checks one request and its answer against the document.
func validateExchange(method, url string, reqHeader http.Header, sent []byte, status int, header http.Header, body []byte) error {
	c, err := theContract()
	if err != nil {
		return fmt.Errorf("the OpenAPI document does not load: %w", err)
	}
	ctx := context.Background()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(sent))
	if err != nil {
		return err
	}
	req.Header = reqHeader.Clone()
	if len(sent) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if method == http.MethodOptions && reqHeader.Get("Access-Control-Request-Method") != "" {
		// CORS preflights: info.description and two components say them.
		response := map[int]string{http.StatusNoContent: "CorsPreflight", http.StatusForbidden: "CorsPreflightRefused",
			http.StatusNotFound: "RouteNotFound", http.StatusMethodNotAllowed: "MethodNotAllowed"}[status]
		if response == "" {
			return fmt.Errorf("a preflight answers 204, 403, 404 or 405, not %d", status)
		}
		return c.validateAs(req, response, status, status, header, body)
	}
	// HEAD is GET without the body (info.description): its status and
	// headers are GET's.
	head := method == http.MethodHead
	if head {
		if len(body) > 0 {
			return fmt.Errorf("HEAD answered a body: %q", body)
		}
		req.Method = http.MethodGet
	}

	route, params, err := c.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		// Paths the document does not list answer 404 root.not_found.
		return c.validateAs(req, "RouteNotFound", http.StatusNotFound, status, header, body)
	case errors.Is(err, routers.ErrMethodNotAllowed):
		// Methods a listed path lacks answer 405 with Allow naming the documented ones.
		if err := c.validateAs(req, "MethodNotAllowed", http.StatusMethodNotAllowed, status, header, body); err != nil {
			return err
		}
		if want := c.documentedMethods(req); header.Get("Allow") != want {
			return fmt.Errorf("Allow %q, but the document lists %q for this path", header.Get("Allow"), want)
		}
		return nil
	case err != nil:
		return fmt.Errorf("find route: %w", err)
	}

	options := validationOptions
	if head {
		o := *validationOptions
		o.ExcludeResponseBody = true
		options = &o
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: options}
	if status >= 200 && status < 300 {
		// The code accepted this request: the document must accept it too.
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("%d to a request that the document says is invalid: %w", status, err)
		}
		req.Body = io.NopCloser(bytes.NewReader(sent))
	}
	return validateResponse(in, route.Operation, status, header, body)
}

// validateAs checks an answer against a response of the components, for
// requests that match no operation.
func (c *contract) validateAs(req *http.Request, response string, wantStatus, status int, header http.Header, body []byte) error {
	if status != wantStatus {
		return fmt.Errorf("no operation of the document matches, which must answer %d (%s)", wantStatus, response)
	}
	ref := c.doc.Components.Responses[response]
	if ref == nil {
		return fmt.Errorf("components.responses.%s is missing", response)
	}
	op := &openapi3.Operation{Responses: openapi3.NewResponses(openapi3.WithStatus(wantStatus, ref))}
	route := &routers.Route{Spec: c.doc, Path: req.URL.Path, Method: req.Method, Operation: op}
	in := &openapi3filter.RequestValidationInput{Request: req, Route: route, Options: validationOptions}
	return validateResponse(in, op, status, header, body)
}

func validateResponse(in *openapi3filter.RequestValidationInput, op *openapi3.Operation, status int, header http.Header, body []byte) error {
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: in.Options}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return shorten(err)
	}
	// kin-openapi skips the body of a response documented without content.
	if ref := op.Responses.Status(status); ref != nil && len(ref.Value.Content) == 0 && len(body) > 0 {
		return fmt.Errorf("the document says %d has no body, got %q", status, body)
	}
	return nil
}

// documentedMethods is what Allow must say for the request's path.
func (c *contract) documentedMethods(req *http.Request) string {
	for path, item := range c.doc.Paths.Map() {
		probe := req.Clone(req.Context())
		for m := range item.Operations() {
			probe.Method = m
			if route, _, err := c.router.FindRoute(probe); err == nil && route.Path == path {
				return allowOf(item)
			}
		}
	}
	return ""
}

// allowOf is the methods of a path: the documented ones, and HEAD with GET.
func allowOf(item *openapi3.PathItem) string {
	var methods []string
	for m := range item.Operations() {
		methods = append(methods, m)
	}
	if item.Get != nil {
		methods = append(methods, http.MethodHead)
	}
	slices.Sort(methods)
	return strings.Join(methods, ", ")
}

// shorten keeps a validation error readable: kin-openapi appends the whole
// schema to some messages.
func shorten(err error) error {
	const max = 3000
	if msg := err.Error(); len(msg) > max {
		return errors.New(msg[:max] + " …")
	}
	return err
}

// TestOpenAPILint is CI's lint step for the document: it must load and
// validate as OpenAPI 3.1, and follow the project's rules below.
func TestOpenAPILint(t *testing.T) {
	raw := httpapi.OpenAPIDocument()
	doc, err := loadOpenAPI(raw)
	if err != nil {
		t.Fatalf("transport/httpapi/openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	if _, err := gorillamux.NewRouter(doc); err != nil {
		t.Errorf("no router over the document: %v", err)
	}

	// No name twice in an object: Go's decoders keep the last, YAML-based
	// tools (openapi-typescript, Redocly) refuse the document (two features
	// once both named a schema Delivery).
	var strict any
	if err := jsonv2.Unmarshal(raw, &strict); err != nil {
		t.Errorf("openapi.json: %v", err)
	}

	// Formatted as `python3 -m json.tool --indent 2 --no-ensure-ascii` writes it, so that diffs stay small.
	var compact, formatted bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		t.Fatal(err)
	}
	_ = json.Indent(&formatted, compact.Bytes(), "", "  ")
	formatted.WriteByte('\n')
	if !bytes.Equal(formatted.Bytes(), raw) {
		t.Error("openapi.json is not formatted with a 2-space indent; run: python3 -m json.tool --indent 2 --no-ensure-ascii openapi.json")
	}

	// Redocly's info-license: the license clients may use the API and its document under.
	if l := doc.Info.License; l == nil || l.Name == "" || l.Identifier != "Apache-2.0" {
		t.Errorf("info.license: want Apache-2.0 (identifier), the repository's LICENSE")
	}
	componentsUsed(t, doc, raw)
	forGenerators(t, raw)
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		inAPI := len(item.Servers) == 0 // /api/v1, not the operations endpoints
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" || op.Summary == "" || op.Description == "" || len(op.Tags) == 0 {
				t.Errorf("%s: needs an operationId, a summary, a description and a tag", where)
			}
			secured := len(doc.Security) > 0 && (op.Security == nil || len(*op.Security) > 0)
			if secured != (op.Responses.Value("401") != nil) || secured != (op.Responses.Value("403") != nil) {
				t.Errorf("%s: a secured operation has 401 and 403, an open one has neither", where)
			}
			if op.Responses.Value("500") == nil {
				t.Errorf("%s: every operation can answer 500", where)
			}
			if op.RequestBody != nil {
				for _, status := range []string{"400", "413", "415"} {
					if op.Responses.Value(status) == nil {
						t.Errorf("%s: an operation with a body can answer %s", where, status)
					}
				}
				for mt, media := range op.RequestBody.Value.Content {
					if s := media.Schema.Value; s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
						t.Errorf("%s: request body %s must set additionalProperties: false (no mass assignment)", where, mt)
					}
				}
			}
			var success bool
			for status, ref := range op.Responses.Map() {
				resp := ref.Value
				success = success || strings.HasPrefix(status, "2")
				if h := resp.Headers["X-Request-Id"]; h == nil || !h.Value.Required {
					t.Errorf("%s %s: every response carries X-Request-Id (required)", where, status)
				}
				isError := status >= "400"
				if !isError || (!inAPI && status == "503") { // /readyz answers 503 in plain text
					continue
				}
				if h := resp.Headers["X-Error-Codes"]; h == nil || !h.Value.Required {
					t.Errorf("%s %s: every error carries X-Error-Codes (required)", where, status)
				}
				if mt := resp.Content.Get("application/json"); mt == nil || mt.Schema.Ref != "#/components/schemas/ErrorEnvelope" {
					t.Errorf("%s %s: every error has the ErrorEnvelope body, a $ref to it (its codes may narrow it next to the $ref)", where, status)
				}
				need := map[string]string{"401": "WWW-Authenticate", "405": "Allow", "429": "Retry-After", "503": "Retry-After"}[status]
				if h := resp.Headers[need]; need != "" && (h == nil || !h.Value.Required) {
					t.Errorf("%s %s: needs the %s header (required)", where, status, need)
				}
			}
			if !success {
				t.Errorf("%s: no 2xx response", where)
			}
		}
	}
}

// forGenerators fails on the schema shapes that code generators get wrong
// (oapi-codegen v2.8.2, openapi-typescript 7), which the document once used:
// an allOf of a $ref next to properties of the schema's own (oapi-codegen
// keeps one side), and unevaluatedProperties (both ignore it). A schema
// that extends another is written out in full and closed with
// additionalProperties: false; a $ref with keywords beside it (OpenAPI 3.1)
// narrows without composing. An optional member has no default of its own:
// openapi-typescript (--default-non-nullable, on by default) makes it
// required, so a web console could not leave out role when creating.
func forGenerators(t *testing.T, raw []byte) {
	t.Helper()
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["unevaluatedProperties"]; ok {
				t.Errorf("%s: unevaluatedProperties, which generators ignore; close the schema with additionalProperties: false", at)
			}
			if members, ok := v["allOf"].([]any); ok {
				refs := slices.ContainsFunc(members, func(m any) bool { _, ok := m.(map[string]any)["$ref"]; return ok })
				_, props := v["properties"]
				if refs && props {
					t.Errorf("%s: allOf of a $ref next to properties, which oapi-codegen merges wrongly; write the schema out in full", at)
				}
			}
			if props, ok := v["properties"].(map[string]any); ok {
				required, _ := v["required"].([]any)
				for _, name := range slices.Sorted(maps.Keys(props)) {
					if _, ok := props[name].(map[string]any)["default"]; ok && !slices.Contains(required, any(name)) {
						t.Errorf("%s/properties/%s: an optional member with a default, which openapi-typescript's types make required; say the default in its description", at, name)
					}
				}
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walk(at+"/"+k, v[k])
			}
		case []any:
			for i, child := range v {
				walk(fmt.Sprintf("%s/%d", at, i), child)
			}
		}
	}
	walk("#", doc)

	// The invitation schemas are written out in full, each: they must stay
	// Invitation and a token, with its accept link.
	schemas := doc.(map[string]any)["components"].(map[string]any)["schemas"].(map[string]any)
	base := withoutDescription(schemas["Invitation"])
	for name, tokenRequired := range map[string]bool{"InvitationWithToken": true, "CreatedInvitation": false} {
		s := withoutDescription(schemas[name])
		props, _ := s["properties"].(map[string]any)
		required, _ := s["required"].([]any)
		if props["token"] == nil || props["accept_url"] == nil || slices.Contains(required, any("token")) != tokenRequired || slices.Contains(required, any("accept_url")) {
			t.Errorf("%s: needs the property token, required: %v, and accept_url, optional", name, tokenRequired)
			continue
		}
		delete(props, "token")
		delete(props, "accept_url")
		s["required"] = slices.DeleteFunc(required, func(r any) bool { return r == "token" })
		if !reflect.DeepEqual(s, base) {
			t.Errorf("%s differs from Invitation by more than its token and accept_url: change them together", name)
		}
	}
}

// TestOpenAPISchemasKeepTheirRules checks that the schemas written out for
// generators still say what the service promises, as the harness's
// validation reads them: closed bodies, the invitation's rules by status,
// and the codes each error response narrows the envelope to.
func TestOpenAPISchemasKeepTheirRules(t *testing.T) {
	c, err := theContract()
	if err != nil {
		t.Fatal(err)
	}
	schema := func(name string) *openapi3.Schema { return c.doc.Components.Schemas[name].Value }
	errorBody := func(response string) *openapi3.Schema {
		return c.doc.Components.Responses[response].Value.Content.Get("application/json").Schema.Value
	}
	invitation := func(edit func(map[string]any)) map[string]any {
		inv := map[string]any{
			"id": "01936f3e-8a4c-7b2d-9e1f-0a1b2c3d4e5f", "organization": map[string]any{"id": "acme", "name": "Acme"},
			"email": "ada@example.com", "role": "member", "status": "pending", "created_at": "2026-11-23T09:42:00Z",
			"created_by": "admin-1", "expires_at": "2026-11-26T09:42:00Z", "expired": false, "version": 1.0,
		}
		edit(inv)
		return inv
	}
	withToken := func(inv map[string]any) { inv["token"] = strings.Repeat("A", 43) }
	envelope := func(code string) map[string]any {
		return map[string]any{"errors": []any{map[string]any{"code": code, "message": "m"}}}
	}
	for _, tc := range []struct {
		name   string
		schema *openapi3.Schema
		value  map[string]any
		valid  bool
	}{
		{"an invitation", schema("Invitation"), invitation(func(map[string]any) {}), true},
		{"an invitation with a token", schema("Invitation"), invitation(withToken), false},
		{"an invitation without email", schema("Invitation"), invitation(func(inv map[string]any) { delete(inv, "email") }), false},
		{"an accepted invitation without accepted_at", schema("Invitation"), invitation(func(inv map[string]any) { inv["status"] = "accepted" }), false},
		{"an expired invitation with expired false", schema("Invitation"), invitation(func(inv map[string]any) { inv["status"] = "expired" }), false},
		{"a looked-up invitation", schema("InvitationWithToken"), invitation(withToken), true},
		{"a looked-up invitation without its token", schema("InvitationWithToken"), invitation(func(map[string]any) {}), false},
		{"a looked-up invitation with another field", schema("InvitationWithToken"), invitation(func(inv map[string]any) { withToken(inv); inv["secret"] = "x" }), false},
		{"a created invitation", schema("CreatedInvitation"), invitation(withToken), true},
		{"a replayed created invitation, without token", schema("CreatedInvitation"), invitation(func(map[string]any) {}), true},
		{"a created invitation without id", schema("CreatedInvitation"), invitation(func(inv map[string]any) { withToken(inv); delete(inv, "id") }), false},
		{"an event whose data is of another type", schema("Event"), map[string]any{"sequence": 1.0, "type": "invitation.cancelled", "time": "2026-11-23T09:42:00Z", "actor": "a",
			"data": map[string]any{"organization_id": "acme", "name": "Acme", "actor": "a"}}, false},
		{"a 404 of a missing invitation", errorBody("NotFound"), envelope("organization.invitation_not_found"), true},
		{"a 404 with a 403's code", errorBody("NotFound"), envelope("root.forbidden"), false},
		{"a 409 with a 400's code", errorBody("Conflict"), envelope("root.invalid_parameter"), false},
		{"an error with another field", errorBody("Gone"), map[string]any{"errors": []any{map[string]any{"code": "organization.invitation_expired", "message": "m", "hint": "x"}}}, false},
	} {
		err := tc.schema.VisitJSON(tc.value, openapi3.EnableJSONSchema2020())
		if valid := err == nil; valid != tc.valid {
			t.Errorf("%s: valid %v, want %v (%v)", tc.name, valid, tc.valid, err)
		}
	}
}

// withoutDescription is a deep copy of a schema without its description.
func withoutDescription(schema any) map[string]any {
	var out map[string]any
	b, _ := json.Marshal(schema)
	_ = json.Unmarshal(b, &out)
	delete(out, "description")
	return out
}

var refPattern = regexp.MustCompile(`"\$ref":\s*"#/components/([A-Za-z]+)/([^"]+)"`)

// componentsUsed fails on components nothing refers to (RouteNotFound and
// MethodNotAllowed are used by the harness for unmatched requests,
// CorsPreflight and CorsPreflightRefused for preflights,
// UnreadableRequest and RequestHeadersTooLarge by TestEveryErrorHasTheEnvelope
// for requests answered before routing).
func componentsUsed(t *testing.T, doc *openapi3.T, raw []byte) {
	t.Helper()
	used := map[string]bool{"responses/RouteNotFound": true, "responses/MethodNotAllowed": true,
		"responses/CorsPreflight": true, "responses/CorsPreflightRefused": true,
		"responses/UnreadableRequest": true, "responses/RequestHeadersTooLarge": true, "securitySchemes/bearerAuth": len(doc.Security) > 0}
	for _, m := range refPattern.FindAllSubmatch(raw, -1) {
		used[string(m[1])+"/"+string(m[2])] = true
	}
	check := func(kind string, names []string) {
		for _, name := range names {
			if !used[kind+"/"+name] {
				t.Errorf("components.%s.%s is never used", kind, name)
			}
		}
	}
	keys := func(m any) []string {
		var out []string
		b, _ := json.Marshal(m)
		var generic map[string]json.RawMessage
		_ = json.Unmarshal(b, &generic)
		for k := range generic {
			out = append(out, k)
		}
		return out
	}
	c := doc.Components
	check("schemas", keys(c.Schemas))
	check("responses", keys(c.Responses))
	check("parameters", keys(c.Parameters))
	check("headers", keys(c.Headers))
	check("securitySchemes", keys(c.SecuritySchemes))
}

func TestOpenAPIServed(t *testing.T) {
	s := startStack(t, "")
	r := s.do("GET", "/api/v1/openapi.json", "", nil) // validated against itself by do
	expect(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if r.raw != string(httpapi.OpenAPIDocument()) {
		t.Error("the served document is not the embedded one")
	}
	doc, err := loadOpenAPI([]byte(r.raw))
	if err != nil {
		t.Fatalf("the served document does not load: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Paths.Value("/organizations/{organization_id}/invitations") == nil {
		t.Fatalf("served document: openapi %q, paths %v", doc.OpenAPI, doc.Paths.InMatchingOrder())
	}
	expect(t, s.do("POST", "/api/v1/openapi.json", "", nil), http.StatusMethodNotAllowed, "root.method_not_allowed")
}

// TestOpenAPIRoutes asks every documented path with a method no path has:
// the router must know the path (405, not 404) and Allow exactly the
// documented methods, which do() checks. The operations endpoints, outside
// /api/v1, answer GET as documented.
func TestOpenAPIRoutes(t *testing.T) {
	s := startStack(t, "")
	c, err := theContract()
	if err != nil {
		t.Fatal(err)
	}
	sample := strings.NewReplacer(
		"{organization_id}", "acme", "{invitation_id}", "01936f3e-0000-7000-8000-000000000000",
		"{invitation_token}", strings.Repeat("A", 43), "{user_id}", "user-1",
		"{webhook_id}", "01936f3e-0000-7000-8000-000000000001", "{delivery_id}", "01936f3e-0000-7000-8000-000000000002")
	for _, path := range c.doc.Paths.InMatchingOrder() {
		item := c.doc.Paths.Value(path)
		if len(item.Servers) > 0 {
			url := s.http.URL + sample.Replace(path)
			res, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if err := validateExchange("GET", url, http.Header{}, nil, res.StatusCode, res.Header, body); err != nil {
				t.Errorf("GET %s: %v", path, err)
			}
			continue
		}
		// TRACE: a method no route has (PATCH changes a webhook).
		r := s.do("TRACE", "/api/v1"+sample.Replace(path), s.admin, nil)
		expect(t, r, http.StatusMethodNotAllowed, "root.method_not_allowed")
		if got, want := r.header.Get("Allow"), allowOf(item); got != want {
			t.Errorf("%s: Allow %q, documented %q", path, got, want)
		}
	}
}
