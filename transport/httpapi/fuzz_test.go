package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/invitesvc/invitesvc/transport/auth"
)

func FuzzDecodeCreateRequest(f *testing.F) {
	for _, s := range []string{`{"emails":["a@example.com"],"role":"admin","expires_in":"3d"}`, `{"emails":null}`, `{"emails":[1]}`, `[]`, `{"emails":["a@example.com"]}{}`, `{"role":"x","extra":1}`, ``,
		`{"emails":["a@example.com"],"ROLE":"admin"}`, `{"role":"member","role":"admin"}`, "{\"emails\":[\"\xff\xfe@x.test\"]}", `{"emails":["a\ud800@x.test"]}`, `{"Emails":[],"emails":[]}`, `null`} {
		f.Add(s, "application/json")
	}
	f.Add(`{"emails":[]}`, "text/plain")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		var c createRequest
		err := decodeCreateRequest(body, contentType, &c)
		if err == nil {
			checkDecodedExactly(t, body, contentType, c)
			_, _, _, err = c.validate()
		}
		if err == nil {
			return
		}
		// Every refusal is a 4xx envelope with a code: never a 500.
		var p *problem
		if !errors.As(err, &p) || p.status < 400 || p.status >= 500 || p.errors[0].Code == "" {
			t.Fatalf("body %q answered %v", body, err)
		}
	})
}

func decodeCreateRequest(body, contentType string, c *createRequest) error {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	return decodeBody(httptest.NewRecorder(), req, c, false)
}

// checkDecodedExactly fails unless a body that decodeBody accepted is valid
// UTF-8 and each of its members, read with duplicates allowed, is named
// exactly as a field of createRequest, once, and holds what c re-encodes it
// to; fields the body did not give re-encode as null. The same body with a
// member given twice, or named in upper case, must be refused.
func checkDecodedExactly(t *testing.T, body, contentType string, c createRequest) {
	t.Helper()
	if !utf8.ValidString(body) {
		t.Fatalf("accepted %q, which is not UTF-8", body)
	}
	dec := jsontext.NewDecoder(strings.NewReader(body), jsontext.AllowDuplicateNames(true))
	if dec.PeekKind() == 'n' {
		return // null: nothing given
	}
	if _, err := dec.ReadToken(); err != nil {
		t.Fatalf("accepted %q: %v", body, err)
	}
	var names []string
	given := map[string]jsontext.Value{}
	for dec.PeekKind() == '"' {
		token, err := dec.ReadToken()
		if err != nil {
			t.Fatalf("accepted %q: %v", body, err)
		}
		name := token.String()
		value, err := dec.ReadValue()
		if err != nil {
			t.Fatalf("accepted %q: %v", body, err)
		}
		if _, twice := given[name]; twice {
			t.Fatalf("accepted %q, which gives %q twice", body, name)
		}
		names = append(names, name)
		given[name] = value.Clone()
	}
	encoded, err := json.Marshal(c, json.FormatNilSliceAsNull(true))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]jsontext.Value
	if err := json.Unmarshal(encoded, &fields); err != nil {
		t.Fatal(err)
	}
	for name, value := range given {
		field, ok := fields[name]
		if !ok || !sameJSON(t, value, field) {
			t.Fatalf("accepted %q: member %q is %s, re-encoded as %s", body, name, value, field)
		}
	}
	for name, field := range fields {
		if _, ok := given[name]; !ok && string(field) != "null" {
			t.Fatalf("accepted %q: %s re-encodes as %s though not given", body, name, field)
		}
	}
	if len(names) == 0 {
		return
	}
	first := names[0]
	for _, variant := range []struct{ why, name string }{{"twice", first}, {"in upper case", strings.ToUpper(first)}} {
		var b strings.Builder
		enc := jsontext.NewEncoder(&b, jsontext.AllowDuplicateNames(true))
		_ = enc.WriteToken(jsontext.BeginObject)
		for _, name := range names {
			_ = enc.WriteToken(jsontext.String(name))
			_ = enc.WriteValue(given[name])
		}
		_ = enc.WriteToken(jsontext.String(variant.name))
		_ = enc.WriteValue(given[first])
		_ = enc.WriteToken(jsontext.EndObject)
		var again createRequest
		if err := decodeCreateRequest(b.String(), contentType, &again); err == nil {
			t.Fatalf("accepted %q, with %s %s", b.String(), first, variant.why)
		}
	}
}

func sameJSON(t *testing.T, a, b jsontext.Value) bool {
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Bearer", "Bearer  x", "Basic x", "Bearer a b"} {
		f.Add(s)
	}
	verifier, secret := auth.NewDevVerifier()
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", header)
		token, ok := auth.BearerToken(req)
		if !ok {
			return
		}
		if strings.ContainsAny(token, " \t") || token == "" {
			t.Fatalf("%q gave token %q", header, token)
		}
		// Random text is never a valid token: no panic, always refused.
		if _, err := verifier.Verify(token); err == nil {
			t.Fatalf("accepted %q (secret %d bytes)", token, len(secret))
		}
	})
}
