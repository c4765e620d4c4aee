package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// storedKey is a key of some generation.
type storedKey struct {
	name string
	gen  uint64
	Key
}

// walk calls fn with each page of the keys under prefix that belong to a
// generation. Keys stored or deleted meanwhile may or may not show.
func walk(ctx context.Context, client redis.UniversalClient, prefix string, fn func([]storedKey) error) error {
	match := PrefixPattern(prefix)
	var cursor uint64
	for {
		names, next, err := client.Scan(ctx, cursor, match, 1000).Result()
		if err != nil {
			return fmt.Errorf("redisstore: scan: %w", err)
		}
		page := make([]storedKey, 0, len(names))
		for _, name := range names {
			if k, ok := parseKey(prefix, name); ok {
				page = append(page, k)
			}
		}
		if err := fn(page); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// parseKey reads the generation and the kind of a key, if it is one the
// store writes in a generation.
func parseKey(prefix, name string) (storedKey, bool) {
	k := storedKey{name: name}
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return k, false
	}
	// Generation 0's kinds never start with a g.
	if digits, after, found := strings.Cut(strings.TrimPrefix(rest, "g"), ":"); found && strings.HasPrefix(rest, "g") {
		n, err := strconv.ParseUint(digits, 10, 64)
		if err != nil || n == 0 || strconv.FormatUint(n, 10) != digits {
			return k, false
		}
		k.gen, rest = n, after
	}
	if rest == "checkpoint" {
		k.Kind = KeyCheckpoint
		return k, true
	}
	kind, tail, _ := strings.Cut(rest, ":")
	if kind == "tok" {
		k.Kind, k.ID = KeyToken, tail
		return k, tail != ""
	}
	org, id, found := strings.Cut(strings.TrimPrefix(tail, "{"), "}")
	if !found || !strings.HasPrefix(tail, "{") || org == "" {
		return k, false
	}
	k.OrganizationID = org
	switch kind {
	case "org":
		k.Kind = KeyOrganization
		return k, id == ""
	case "mems":
		k.Kind = KeyMembers
		return k, id == ""
	case "inv", "invs", "mem":
		k.Kind = map[string]KeyKind{"inv": KeyInvitation, "invs": KeyBucket, "mem": KeyMember}[kind]
		k.ID, ok = strings.CutPrefix(id, ":")
		return k, ok && k.ID != ""
	}
	return k, false
}

// PrefixPattern is the SCAN MATCH pattern of every key under prefix: the
// prefix, its pattern characters quoted, then *.
func PrefixPattern(prefix string) string {
	var b strings.Builder
	for _, r := range prefix {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('*')
	return b.String()
}
