package service_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/invitesvc/invitesvc/internal/service"
)

// model is the plain, in-memory statement of the rules the service must
// agree with: who is invited, who accepted, who is a member.
type model struct {
	invitations []*modelInvitation // in creation order
	members     map[string]string  // user -> email
	ids         map[string]int     // service id -> index in invitations
}

type modelInvitation struct {
	id, email, status, acceptedBy string
}

func (m *model) clone() *model {
	c := &model{members: maps.Clone(m.members), ids: maps.Clone(m.ids)}
	for _, inv := range m.invitations {
		cp := *inv
		c.invitations = append(c.invitations, &cp)
	}
	return c
}

// op is one command: what it sends, and what the model says it answers
// (applying its effect to the model).
type op struct {
	name    string
	send    func(s *stack) response
	predict func(m *model, r response) int
}

func pendingFor(m *model, email string) bool {
	for _, inv := range m.invitations {
		if inv.email == email && inv.status == "pending" {
			return true
		}
	}
	return false
}

func memberEmail(m *model, email string) bool {
	return slices.Contains(slices.Collect(maps.Values(m.members)), email)
}

func createOp(email string) op {
	return op{"create " + email,
		func(s *stack) response {
			return s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{email}})
		},
		func(m *model, r response) int {
			switch {
			case pendingFor(m, email):
				return http.StatusConflict
			case memberEmail(m, email):
				return http.StatusBadRequest
			}
			if r.status == http.StatusCreated {
				inv := r.list("invitations")[0]
				m.ids[inv["id"].(string)] = len(m.invitations)
				m.invitations = append(m.invitations, &modelInvitation{id: inv["id"].(string), email: email, status: "pending"})
			}
			return http.StatusCreated
		}}
}

func acceptOp(inv *modelInvitation, user, email string) op {
	return op{fmt.Sprintf("accept %s as %s <%s>", inv.email, user, email),
		func(s *stack) response {
			return s.do("POST", api+"/acme/invitations/"+inv.id+"/accept", s.invitee(user, email), nil)
		},
		func(m *model, _ response) int {
			inv := m.invitations[m.ids[inv.id]]
			_, member := m.members[user]
			switch {
			case email != inv.email:
				return http.StatusForbidden
			case inv.status == "accepted" && inv.acceptedBy == user:
				return http.StatusOK
			case inv.status == "accepted":
				return http.StatusConflict
			case inv.status == "cancelled":
				return http.StatusConflict
			case member:
				return http.StatusBadRequest
			}
			inv.status, inv.acceptedBy = "accepted", user
			m.members[user] = email
			return http.StatusOK
		}}
}

func cancelOp(inv *modelInvitation) op {
	return op{"cancel " + inv.email,
		func(s *stack) response { return s.do("DELETE", api+"/acme/invitations/"+inv.id, s.admin, nil) },
		func(m *model, _ response) int {
			inv := m.invitations[m.ids[inv.id]]
			if inv.status == "accepted" {
				return http.StatusConflict
			}
			inv.status = "cancelled"
			return http.StatusNoContent
		}}
}

func resendOp(inv *modelInvitation) op {
	return op{"resend " + inv.email,
		func(s *stack) response {
			return s.do("POST", api+"/acme/invitations/"+inv.id+"/resend", s.admin, nil)
		},
		func(m *model, _ response) int {
			if inv := m.invitations[m.ids[inv.id]]; inv.status != "pending" {
				return http.StatusConflict
			}
			return http.StatusOK
		}}
}

func removeOp(user string) op {
	return op{"remove " + user,
		func(s *stack) response { return s.do("DELETE", api+"/acme/members/"+user, s.admin, nil) },
		func(m *model, _ response) int {
			if _, ok := m.members[user]; !ok {
				return http.StatusNotFound
			}
			delete(m.members, user)
			return http.StatusNoContent
		}}
}

// TestModel runs random command sequences, some of them concurrent, against
// the service and the model. A concurrent group must match some order of
// its commands; at the end the service's lists must equal the model's.
func TestModel(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		s := newStack()
		s.register("acme")
		rng := rand.New(rand.NewPCG(42, uint64(len(t.Name()))))
		emails := []string{"a@example.com", "b@example.com", "c@example.com"}
		users := []string{"u1", "u2", "u3"}
		m := &model{members: map[string]string{}, ids: map[string]int{}}
		randomOp := func() op {
			if len(m.invitations) == 0 || rng.IntN(4) == 0 {
				return createOp(emails[rng.IntN(len(emails))])
			}
			inv := m.invitations[rng.IntN(len(m.invitations))]
			switch rng.IntN(5) {
			case 0, 1:
				email := inv.email
				if rng.IntN(6) == 0 {
					email = emails[rng.IntN(len(emails))]
				}
				return acceptOp(inv, users[rng.IntN(len(users))], email)
			case 2:
				return cancelOp(inv)
			case 3:
				return resendOp(inv)
			}
			return removeOp(users[rng.IntN(len(users))])
		}
		for step := range 120 {
			group := []op{randomOp()}
			if step%4 == 3 {
				for range 1 + rng.IntN(3) {
					group = append(group, randomOp())
				}
			}
			responses := make([]response, len(group))
			var wg sync.WaitGroup
			for i, o := range group {
				wg.Go(func() { responses[i] = o.send(s) })
			}
			wg.Wait()
			if next, ok := someOrder(m, group, responses); ok {
				m = next
				continue
			}
			var got []string
			for i, o := range group {
				got = append(got, fmt.Sprintf("%s -> %d", o.name, responses[i].status))
			}
			t.Fatalf("step %d: no order of %v fits the model", step, got)
		}

		all := s.do("GET", api+"/acme/invitations?status=all&limit=100", s.admin, nil).list("invitations")
		if len(all) != len(m.invitations) {
			t.Fatalf("service has %d invitations, model %d", len(all), len(m.invitations))
		}
		for _, inv := range all {
			want := m.invitations[m.ids[inv["id"].(string)]]
			if inv["status"] != want.status || inv["email"] != want.email || (want.acceptedBy != "" && inv["accepted_by"] != want.acceptedBy) {
				t.Errorf("invitation %v, model %+v", inv, *want)
			}
		}
		members := map[string]string{}
		for _, mem := range s.do("GET", api+"/acme/members?limit=100", s.admin, nil).list("members") {
			members[mem["user_id"].(string)] = mem["email"].(string)
		}
		if !maps.Equal(members, m.members) {
			t.Fatalf("members %v, model %v", members, m.members)
		}
	})
}

// someOrder finds an order of the group's commands under which the model
// answers what the service answered, and returns the model after it.
func someOrder(m *model, group []op, responses []response) (*model, bool) {
	for _, order := range permutations(len(group)) {
		c := m.clone()
		fits := true
		for _, i := range order {
			if group[i].predict(c, responses[i]) != responses[i].status {
				fits = false
				break
			}
		}
		if fits {
			return c, true
		}
	}
	return nil, false
}

func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(slices.Clone(p[:i]), n-1)
			out = append(out, append(q, p[i:]...))
		}
	}
	return out
}
