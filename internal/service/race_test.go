package service_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/invitesvc/invitesvc/internal/service"
)

// concurrently runs fn n times at once and returns the answers.
func concurrently(n int, fn func(i int) response) []response {
	answers := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return answers
}

// parallel runs fn n times at once and returns the statuses.
func parallel(n int, fn func(i int) response) []int {
	statuses := []int{}
	for _, r := range concurrently(n, fn) {
		statuses = append(statuses, r.status)
	}
	return statuses
}

func count(statuses []int, status int) int {
	n := 0
	for _, s := range statuses {
		if s == status {
			n++
		}
	}
	return n
}

// eventTypes counts an invitation's events by type, read from the stream.
func (s *stack) eventTypes(id string) map[string]int {
	s.t.Helper()
	out := map[string]int{}
	for _, e := range s.do("GET", api+"/acme/invitations/"+id+"/events", s.admin, nil).list("events") {
		out[e["type"].(string)]++
	}
	return out
}

func TestRaces(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		s := newStack()
		s.register("acme")

		t.Run("40 accepts by one user", func(t *testing.T) {
			inv := s.invite("ada@example.com")[0]
			ada := s.invitee("user-ada", "ada@example.com")
			statuses := parallel(40, func(int) response {
				return s.do("POST", api+"/invitations/"+inv["token"].(string)+"/_accept", ada, nil)
			})
			if count(statuses, http.StatusOK) != 40 {
				t.Fatalf("statuses %v, want forty 200", statuses)
			}
			if got := s.eventTypes(inv["id"].(string)); got["invitation.accepted"] != 1 {
				t.Fatalf("events %v, want one accepted", got)
			}
			if ms := s.do("GET", api+"/acme/members", s.admin, nil).list("members"); len(ms) != 1 {
				t.Fatalf("%d memberships", len(ms))
			}
		})

		t.Run("20 users race for one invitation", func(t *testing.T) {
			inv := s.invite("bob@example.com")[0]
			statuses := parallel(20, func(i int) response {
				return s.do("POST", api+"/invitations/"+inv["token"].(string)+"/_accept", s.invitee(fmt.Sprint("bob-", i), "bob@example.com"), nil)
			})
			if count(statuses, http.StatusOK) != 1 || count(statuses, http.StatusConflict) != 19 {
				t.Fatalf("statuses %v, want one 200 and nineteen 409", statuses)
			}
			if got := s.eventTypes(inv["id"].(string)); got["invitation.accepted"] != 1 {
				t.Fatalf("events %v", got)
			}
		})

		t.Run("20 creates of one email", func(t *testing.T) {
			statuses := parallel(20, func(int) response {
				return s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"carol@example.com"}})
			})
			if count(statuses, http.StatusCreated) != 1 || count(statuses, http.StatusConflict) != 19 {
				t.Fatalf("statuses %v, want one 201 and nineteen 409", statuses)
			}
		})

		t.Run("one user accepts two invitations at once", func(t *testing.T) {
			invs := s.invite("dave@example.com", "dave2@example.com")
			// The same user holds both addresses; a user is a member at most once.
			statuses := parallel(2, func(i int) response {
				return s.do("POST", api+"/invitations/"+invs[i]["token"].(string)+"/_accept", s.invitee("user-dave", invs[i]["email"].(string)), nil)
			})
			if count(statuses, http.StatusOK) != 1 || count(statuses, http.StatusBadRequest) != 1 {
				t.Fatalf("statuses %v, want one 200 and one 400", statuses)
			}
		})

		t.Run("accept races cancel", func(t *testing.T) {
			for round := range 10 {
				email := fmt.Sprintf("race%d@example.com", round)
				inv := s.invite(email)[0]
				statuses := parallel(2, func(i int) response {
					if i == 0 {
						return s.do("POST", api+"/invitations/"+inv["token"].(string)+"/_accept", s.invitee(fmt.Sprint("racer-", round), email), nil)
					}
					return s.do("DELETE", api+"/acme/invitations/"+inv["id"].(string), s.admin, nil)
				})
				events := s.eventTypes(inv["id"].(string))
				accepted, cancelled := events["invitation.accepted"], events["invitation.cancelled"]
				switch {
				case accepted == 1 && cancelled == 0:
					if statuses[0] != 200 || statuses[1] != 409 {
						t.Fatalf("accepted, but statuses %v", statuses)
					}
				case accepted == 0 && cancelled == 1:
					if statuses[0] != 404 || statuses[1] != 204 {
						t.Fatalf("cancelled, but statuses %v", statuses)
					}
				default:
					t.Fatalf("events %v: want exactly one outcome", events)
				}
			}
		})
	})
}

func TestRestartWithEmptyReadStore(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		s := newStack()
		s.register("acme")
		invs := s.invite("ada@example.com", "bob@example.com")
		expect(t, s.do("POST", api+"/invitations/"+invs[0]["token"].(string)+"/_accept", s.invitee("user-ada", "ada@example.com"), nil), http.StatusOK)
		// A fresh key prefix is an empty Redis; memory is empty after any restart.
		s.cfg.RedisPrefix += "fresh:"
		s.restart()
		expect(t, s.do("GET", api+"/invitations/"+invs[1]["token"].(string), "", nil), http.StatusOK)
		if ms := s.do("GET", api+"/acme/members", s.admin, nil).list("members"); len(ms) != 1 {
			t.Fatalf("members after restart: %v", ms)
		}
		if got := s.do("GET", api+"/acme", s.admin, nil); got.str("name") != "acme Corp" {
			t.Fatalf("organization after restart: %v", got.raw)
		}
		expect(t, s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"bob@example.com"}}), http.StatusConflict, "organization.invitation_already_exists")
	})
}
