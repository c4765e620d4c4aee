package testkit

import (
	"net/http"
	"strings"
	"testing"
)

// Call makes a request as a client of the API would, with a bearer token
// and a JSON body (none when body is empty), and returns the status.
func Call(t testing.TB, method, url, token, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
