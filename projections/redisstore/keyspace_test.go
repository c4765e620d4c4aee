package redisstore_test

import (
	"slices"
	"testing"

	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/projections/redisstore"
)

func TestPrefixPattern(t *testing.T) {
	for prefix, want := range map[string]string{
		"":            "*",
		"invitesvc:":  "invitesvc:*",
		`a*b?[c]\d:`:  `a\*b\?\[c\]\\d:*`,
		"{acme}:é-ü:": "{acme}:é-ü:*",
	} {
		if got := redisstore.PrefixPattern(prefix); got != want {
			t.Errorf("PrefixPattern(%q) = %q, want %q", prefix, got, want)
		}
	}
}

// Redis's SCAN MATCH takes the pattern literally: the keys under a prefix
// with pattern characters, and no others.
func TestPrefixPatternMatchesOnlyThePrefix(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, testkit.Redis(t))
	prefix := newPrefix(t, c) + `t[1]*?\:`
	mine := []string{prefix + "a", prefix + "b"}
	others := []string{newPrefix(t, c) + "t1x:a", prefix[:len(prefix)-2] + "x"}
	for _, k := range append(slices.Clone(mine), others...) {
		if err := c.Set(ctx, k, "v", 0).Err(); err != nil { // deleted with its newPrefix
			t.Fatal(err)
		}
	}
	var got []string
	iter := c.Scan(ctx, 0, redisstore.PrefixPattern(prefix), 1000).Iterator()
	for iter.Next(ctx) {
		got = append(got, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, mine) {
		t.Fatalf("SCAN MATCH %q found %v, want %v", redisstore.PrefixPattern(prefix), got, mine)
	}
}
