package service_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/invitesvc/invitesvc/internal/service"
)

// pageAll follows next links from path and returns the ids in order.
func (s *stack) pageAll(path string, between func()) []string {
	s.t.Helper()
	var got []string
	for path != "" {
		r := s.do("GET", path, s.admin, nil)
		expect(s.t, r, http.StatusOK)
		got = append(got, ids(r.list("invitations"))...)
		links := r.body["links"].(map[string]any)
		path, _ = links["next"].(string)
		between()
	}
	return got
}

func TestPaginationUnderConcurrentWrites(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		s := newStack()
		s.register("acme")
		var before []string
		for i := range 35 {
			before = append(before, s.invite(fmt.Sprintf("before%d@example.com", i))[0]["id"].(string))
		}
		slices.Reverse(before) // newest first

		// Invitations keep being created, and some cancelled, while we page.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s.invite(fmt.Sprintf("during%d@example.com", i))
			}
		})
		cancelled := map[string]bool{before[3]: true, before[20]: true}
		var once sync.Once
		got := s.pageAll(api+"/acme/invitations?limit=10", func() {
			once.Do(func() {
				for id := range cancelled {
					expect(t, s.do("DELETE", api+"/acme/invitations/"+id, s.admin, nil), http.StatusNoContent)
				}
			})
		})
		close(stop)
		wg.Wait()

		seen := map[string]bool{}
		for _, id := range got {
			if seen[id] {
				t.Fatalf("%s listed twice", id)
			}
			seen[id] = true
		}
		for _, id := range before {
			if !seen[id] && !cancelled[id] {
				t.Fatalf("%s kept its status but was skipped", id)
			}
		}
		if seen[before[20]] {
			t.Fatalf("an invitation cancelled before its page showed in the pending list")
		}

		// prev links walk back to the same pages.
		first := s.do("GET", api+"/acme/invitations?status=all&limit=10", s.admin, nil)
		second := s.do("GET", first.body["links"].(map[string]any)["next"].(string), s.admin, nil)
		prev := second.body["links"].(map[string]any)["prev"].(string)
		back := s.do("GET", prev, s.admin, nil)
		if !slices.Equal(ids(back.list("invitations")), ids(first.list("invitations"))) {
			t.Fatalf("prev of page 2 is not page 1")
		}
		if _, ok := first.body["links"].(map[string]any)["prev"]; ok {
			t.Fatalf("first page has a prev link")
		}
		u, _ := url.Parse(prev)
		if u.IsAbs() || u.Query().Get("limit") != "10" || u.Query().Get("status") != "all" {
			t.Fatalf("prev link %q", prev)
		}
	})
}
