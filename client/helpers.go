package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// WithBearerToken sends token as the bearer token of every request.
func WithBearerToken(token string) ClientOption {
	return WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	})
}

// NextPage is the cursor of the next page, for the StartingAfter of the
// same list's parameters: nil on the last page. links.next is a URL, its
// cursor opaque.
func (l Links) NextPage() (*StartingAfter, error) {
	if l.Next == nil {
		return nil, nil
	}
	u, err := url.Parse(*l.Next)
	if err != nil {
		return nil, fmt.Errorf("links.next: %w", err)
	}
	cursor := u.Query().Get("starting_after")
	if cursor == "" {
		return nil, fmt.Errorf("links.next %q has no starting_after", *l.Next)
	}
	return &cursor, nil
}
