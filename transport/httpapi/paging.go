package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/invitesvc/invitesvc/projections"
)

// queryParams reads the query string strictly: a parameter given more than
// once is refused (which one would count is a guess), and so is a query
// that is not valid percent-encoding, rather than dropping the bad pairs.
func queryParams(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, malformed("The query string is not valid: name=value pairs, percent-encoded, separated by &.")
	}
	var repeated []string
	for name, values := range q {
		if len(values) > 1 {
			repeated = append(repeated, name)
		}
	}
	if len(repeated) > 0 {
		slices.Sort(repeated)
		return nil, invalid(strings.Join(repeated, ", ")+": give each query parameter at most once.", repeated...)
	}
	return q, nil
}

// pageRequest reads limit, starting_after and ending_before.
func pageRequest(q url.Values) (projections.PageRequest, error) {
	req := projections.PageRequest{Limit: 10}
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 || n > 100 {
			return req, invalid("limit must be a whole number from 10 to 100.", "limit")
		}
		req.Limit = n
	}
	if q.Has("starting_after") && q.Has("ending_before") {
		return req, invalid("Give at most one of starting_after and ending_before.", "starting_after", "ending_before")
	}
	for name, dst := range map[string]*uint64{"starting_after": &req.StartingAfter, "ending_before": &req.EndingBefore} {
		if !q.Has(name) {
			continue
		}
		pos, err := projections.DecodeCursor(q.Get(name))
		if err != nil {
			return req, invalid(name+" is not a cursor from this API's links.", name)
		}
		*dst = pos
	}
	return req, nil
}

type links struct {
	Self string `json:"self"`
	Next string `json:"next,omitempty"`
	Prev string `json:"prev,omitempty"`
}

// pageLinks builds relative links to this page and its neighbours.
func pageLinks[T any](r *http.Request, page projections.Page[T], pos func(T) uint64) links {
	link := func(set, drop string, position uint64) string {
		q := r.URL.Query()
		q.Del(drop)
		if set != "" {
			q.Set(set, projections.EncodeCursor(position))
		}
		if len(q) == 0 {
			return r.URL.EscapedPath()
		}
		return r.URL.EscapedPath() + "?" + q.Encode()
	}
	l := links{Self: link("", "", 0)}
	if page.HasNext && len(page.Items) > 0 {
		l.Next = link("starting_after", "ending_before", pos(page.Items[len(page.Items)-1]))
	}
	if page.HasPrev && len(page.Items) > 0 {
		l.Prev = link("ending_before", "starting_after", pos(page.Items[0]))
	}
	return l
}
