package docs

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/httpapi"
)

// TestAPIDocNamesTheContract keeps docs/api.md in step with the OpenAPI
// document and the code: it must name every operation ("GET /path") of the
// document, and in backquotes every enumerated value (roles, statuses, event
// types, error codes), every field of every schema, every parameter and
// every header of a response; every error code, event type and permission the
// code spells out; the stream, its subjects and the signature headers.
func TestAPIDocNamesTheContract(t *testing.T) {
	raw, err := os.ReadFile("api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	spec := openAPITerms(t)
	if len(spec.operations) < 14 || len(spec.names) < 60 {
		t.Fatalf("the OpenAPI document gave %d operations and %d names: the walk over it is broken", len(spec.operations), len(spec.names))
	}
	code := contractLiterals(t)
	if len(code) < 30 {
		t.Fatalf("the code gave %d error codes, event types and permissions: the scan is broken (%q)", len(code), code)
	}

	var missing []string
	for _, op := range spec.operations {
		if !strings.Contains(doc, op) {
			missing = append(missing, "operation "+op)
		}
	}
	stream := []string{eventstore.StreamName, signing.KeyIDHeader, signing.SignatureHeader, jetstream.MsgIDHeader}
	for _, name := range slices.Concat(spec.names, code, eventstore.StreamSubjects, stream) {
		if !strings.Contains(doc, "`"+name+"`") {
			missing = append(missing, "`"+name+"`")
		}
	}
	slices.Sort(missing)
	if missing = slices.Compact(missing); len(missing) > 0 {
		t.Errorf("docs/api.md does not name (add them where they belong):\n  %s", strings.Join(missing, "\n  "))
	}
}

// terms are what the OpenAPI document defines.
type terms struct {
	operations []string // "GET /organizations/{organization_id}"
	names      []string // enum values, property, parameter and header names
}

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}

func openAPITerms(t *testing.T) terms {
	t.Helper()
	var spec map[string]any
	if err := json.Unmarshal(httpapi.OpenAPIDocument(), &spec); err != nil {
		t.Fatal(err)
	}
	var out terms
	paths, _ := spec["paths"].(map[string]any)
	for path, item := range paths {
		methods, _ := item.(map[string]any)
		for method := range methods {
			if httpMethods[method] {
				out.operations = append(out.operations, strings.ToUpper(method)+" "+path)
			}
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if values, ok := v["enum"].([]any); ok {
				for _, e := range values {
					if s, ok := e.(string); ok {
						out.names = append(out.names, s)
					}
				}
			}
			if props, ok := v["properties"].(map[string]any); ok {
				for name := range props {
					out.names = append(out.names, name)
				}
			}
			if headers, ok := v["headers"].(map[string]any); ok && v["description"] != nil { // a response
				for name := range headers {
					out.names = append(out.names, name)
				}
			}
			if _, isParameter := v["in"].(string); isParameter {
				if name, ok := v["name"].(string); ok {
					out.names = append(out.names, name)
				}
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(spec)
	slices.Sort(out.operations)
	slices.Sort(out.names)
	out.names = slices.Compact(out.names)
	return out
}

// contractTerm is the form of the contract's words in the code: error codes
// (root.*, organization.*), event types and permissions (org.*).
var contractTerm = regexp.MustCompile(`^(root|organization|invitation|membership|email|idempotency|org)\.[a-z_.]+$`)

// contractLiterals are the string literals of the module's non-test Go
// files that have the form of a contract word.
func contractLiterals(t *testing.T) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != repoRoot && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || path == filepath.Join(repoRoot, "data")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && contractTerm.MatchString(s) {
					out = append(out, s)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
