package redisstore_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/projections/redisstore"
)

// Keys reports each key of the generation, and what contradicts itself.
func TestKeys(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, testkit.Redis(t))
	prefix := newPrefix(t, c)
	ws := writes(3)
	applyAll(t, redisstore.New(c, prefix, redisstore.InGeneration(2)), ws)
	applyAll(t, redisstore.New(c, prefix), ws[:1]) // generation 0: not reported
	c.Set(ctx, prefix+"g2:stray", "x", 0)          // not the store's: skipped
	s := redisstore.New(c, prefix, redisstore.InGeneration(2))
	keys := func() []string {
		var got []string
		err := s.Keys(ctx, func(k redisstore.Key) error {
			got = append(got, fmt.Sprintf("%d %s %s %s%s", k.Kind, k.OrganizationID, k.ID, k.Invitation, k.Problem))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	tok := ws[1].Invitation.TokenSHA256
	want := []string{
		fmt.Sprintf("%d   ", redisstore.KeyCheckpoint),
		fmt.Sprintf("%d acme  ", redisstore.KeyOrganization),
		fmt.Sprintf("%d acme i2 ", redisstore.KeyInvitation),
		fmt.Sprintf("%d acme all ", redisstore.KeyBucket),
		fmt.Sprintf("%d acme accepted ", redisstore.KeyBucket),
		fmt.Sprintf("%d acme %s ", redisstore.KeyMember, domain.SHA256("user3")),
		fmt.Sprintf("%d acme  ", redisstore.KeyMembers),
		fmt.Sprintf("%d acme %s i2", redisstore.KeyToken, tok),
	}
	slices.Sort(want)
	if got := keys(); !slices.Equal(got, want) {
		t.Fatalf("keys:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	c.HSet(ctx, prefix+"g2:inv:{acme}:i2", "b", "open")
	c.Set(ctx, prefix+"g2:tok:"+tok, prefix+"inv:{acme}:i2", 0)
	var problems []string
	for _, k := range keys() {
		if strings.Contains(k, `field b is "open", its document says "accepted"`) ||
			strings.Contains(k, fmt.Sprintf(`names %q, not an invitation key of generation 2`, prefix+"inv:{acme}:i2")) {
			problems = append(problems, k)
		}
	}
	if len(problems) != 2 {
		t.Fatalf("tampered keys reported as %v", keys())
	}
}
