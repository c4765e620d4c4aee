package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
)

// KeyKind is what a key of a generation holds.
type KeyKind int

const (
	KeyCheckpoint KeyKind = iota + 1
	KeyOrganization
	KeyInvitation
	KeyBucket  // a list of an organization's invitations
	KeyMember  // ID is the SHA-256 of the user id
	KeyMembers // the list of an organization's members
	KeyToken   // ID is the token's SHA-256
)

// Key is one key of a generation, as Keys reports it.
type Key struct {
	Kind KeyKind
	// OrganizationID is the key's organization; for a token, that of the
	// invitation it names.
	OrganizationID string
	// ID is the invitation id, the bucket, the member's user hash or the
	// token hash.
	ID string
	// Invitation is, for a token, the id of the invitation it names.
	Invitation string
	// Problem, when set, says how the key contradicts itself.
	Problem string
}

// Keys calls fn with every key of the generation the store reads (for a
// store following the pointer, the one it names at the start), for audits:
// what a replay of the stream would not have written shows here. It reads
// which invitation each token names, and checks what no query shows: that
// an invitation's version, token and bucket fields agree with its document,
// and that a token names an invitation key of the same generation. Keys
// under the prefix that the store never writes are skipped.
func (s *Store) Keys(ctx context.Context, fn func(Key) error) error {
	gen, err := s.Generation(ctx)
	if err != nil {
		return err
	}
	return walk(ctx, s.client, s.prefix, func(page []storedKey) error {
		var mine []storedKey
		pipe := s.client.Pipeline()
		var reads []redis.Cmder
		for _, k := range page {
			if k.gen != gen {
				continue
			}
			mine = append(mine, k)
			switch k.Kind {
			case KeyInvitation:
				reads = append(reads, pipe.HMGet(ctx, k.name, "doc", "v", "tok", "b"))
			case KeyToken:
				reads = append(reads, pipe.Get(ctx, k.name))
			default:
				reads = append(reads, nil)
			}
		}
		if pipe.Len() > 0 {
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return fmt.Errorf("redisstore: read keys: %w", err)
			}
		}
		for i, k := range mine {
			switch cmd := reads[i].(type) {
			case *redis.SliceCmd:
				k.Problem = invitationFieldsProblem(cmd.Val())
			case *redis.StringCmd:
				if named, ok := parseKey(s.prefix, cmd.Val()); ok && named.gen == gen && named.Kind == KeyInvitation {
					k.OrganizationID, k.Invitation = named.OrganizationID, named.ID
				} else {
					k.Problem = fmt.Sprintf("names %q, not an invitation key of generation %d", cmd.Val(), gen)
				}
			}
			if err := fn(k.Key); err != nil {
				return err
			}
		}
		return nil
	})
}

// invitationFieldsProblem checks the fields an invitation hash keeps beside
// its document, which Apply relies on for the next event: doc, v, tok, b.
func invitationFieldsProblem(fields []any) string {
	doc, _ := fields[0].(string)
	var v invitationDoc
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return fmt.Sprintf("document does not decode: %v", err)
	}
	want := []string{strconv.Itoa(v.Version), v.TokenSHA256, string(projections.BucketOf(domain.Invitation(v)))}
	for i, name := range []string{"v", "tok", "b"} {
		if got, _ := fields[i+1].(string); got != want[i] {
			return fmt.Sprintf("field %s is %q, its document says %q", name, got, want[i])
		}
	}
	return ""
}
