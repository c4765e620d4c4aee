// Package redisstore keeps the read models in Redis, so that every replica of
// the service answers from the same, already built, projections.
//
// Key layout, every organization's keys sharing the organization id as a hash
// tag (ids cannot contain braces):
//
//	<prefix>org:{acme}                 organization, JSON string
//	<prefix>inv:{acme}:<id>            invitation, hash: doc (JSON), v (version),
//	                                   tok (token SHA-256), b (bucket), p (position)
//	<prefix>invs:{acme}:<bucket>       sorted set of invitation ids, score = position
//	<prefix>mem:{acme}:<sha256(user)>  member, hash: doc (JSON), p (position)
//	<prefix>mems:{acme}                sorted set of sha256(user), score = position
//	<prefix>tok:<sha256>               name of the invitation key holding that token
//	<prefix>checkpoint                 position of the last applied event
//
// Apply touches the global keys and one organization's keys in one script, so
// the store needs a single Redis primary (replicas are fine); on Redis
// Cluster the script would be refused as cross-slot.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
)

// Store is a projections.Store on Redis.
type Store struct {
	client redis.UniversalClient
	prefix string
}

var _ projections.Store = (*Store)(nil)

// New returns a store keeping its keys under prefix, which lets several
// stores (or tests) share one Redis database.
func New(client redis.UniversalClient, prefix string) *Store {
	return &Store{client: client, prefix: prefix}
}

func (s *Store) checkpointKey() string         { return s.prefix + "checkpoint" }
func (s *Store) orgKey(org string) string      { return s.prefix + "org:{" + org + "}" }
func (s *Store) invPrefix(org string) string   { return s.prefix + "inv:{" + org + "}:" }
func (s *Store) memPrefix(org string) string   { return s.prefix + "mem:{" + org + "}:" }
func (s *Store) membersKey(org string) string  { return s.prefix + "mems:{" + org + "}" }
func (s *Store) tokenPrefix() string           { return s.prefix + "tok:" }
func (s *Store) tokenKey(sha256 string) string { return s.tokenPrefix() + sha256 }
func (s *Store) bucketKey(org string, b projections.Bucket) string {
	return s.prefix + "invs:{" + org + "}:" + string(b)
}

// userHash names a member in keys: user ids are arbitrary strings up to 255
// bytes, the hash is short and free of glob and hash-tag characters.
func userHash(userID string) string {
	h := sha256.Sum256([]byte(userID))
	return hex.EncodeToString(h[:])
}

// The stored JSON documents. They convert to and from the domain types (same
// fields, own tags), so a change to those types fails to compile here instead
// of silently changing what is stored. Position lives outside the documents:
// an invitation keeps the position of its creation whatever a later write says.
type (
	invitationDoc struct {
		ID             string      `json:"id"`
		OrganizationID string      `json:"org"`
		Email          string      `json:"email"`
		Role           domain.Role `json:"role"`
		TokenSHA256    string      `json:"tok"`
		CreatedAt      time.Time   `json:"c_at"`
		CreatedBy      string      `json:"c_by"`
		ExpiresAt      time.Time   `json:"exp"`
		AcceptedAt     time.Time   `json:"a_at,omitzero"`
		AcceptedBy     string      `json:"a_by,omitempty"`
		CancelledAt    time.Time   `json:"x_at,omitzero"`
		CancelledBy    string      `json:"x_by,omitempty"`
		ExpiredEvent   bool        `json:"expired,omitempty"`
		Version        int         `json:"v"`
	}
	memberDoc struct {
		OrganizationID string      `json:"org"`
		UserID         string      `json:"user"`
		Email          string      `json:"email"`
		Role           domain.Role `json:"role"`
		JoinedAt       time.Time   `json:"at"`
		InvitationID   string      `json:"inv"`
		Position       uint64      `json:"-"`
	}
)

// applyScript applies one projections.Write. It reads and checks everything
// before its first write, so a refused write changes nothing.
//
// KEYS: 1 checkpoint, 2 organization, 3 invitation, 4-7 the invitation's
// organization's buckets all/open/accepted/cancelled, 8 the new token's key,
// 9 added member, 10 its members set, 11 removed member, 12 its members set.
// ARGV: 1 position, 2 organization doc, 3 invitation doc, 4 invitation id,
// 5 version, 6 token hash, 7 bucket, 8 creation position, 9 member doc,
// 10 member user hash, 11 member position, 12 removed member user hash,
// 13 token key prefix. An empty doc or hash means "no such change".
var applyScript = redis.NewScript(`
local checkpoint = tonumber(redis.call('GET', KEYS[1]) or '0')
local position = tonumber(ARGV[1])
if position <= checkpoint then return 'applied' end
if position > checkpoint + 1 then return 'gap' end

local inv = ARGV[3] ~= ''
local old = {}
if inv then
  old = redis.call('HMGET', KEYS[3], 'v', 'tok', 'b', 'p')
  if tonumber(old[1] or '0') ~= tonumber(ARGV[5]) - 1 then return 'conflict' end
end

if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2]) end
if inv then
  local id, tok, bucket = ARGV[4], ARGV[6], ARGV[7]
  local pos = old[4] or ARGV[8]
  local buckets = {open = KEYS[5], accepted = KEYS[6], cancelled = KEYS[7]}
  if old[3] and old[3] ~= bucket then redis.call('ZREM', buckets[old[3]], id) end
  redis.call('ZADD', KEYS[4], pos, id)
  redis.call('ZADD', buckets[bucket], pos, id)
  -- A cancelled invitation's token finds nothing; a replaced token neither.
  local live = tok ~= '' and bucket ~= 'cancelled'
  if old[2] and old[2] ~= '' and (old[2] ~= tok or not live) then
    redis.call('DEL', ARGV[13] .. old[2])
  end
  if live then redis.call('SET', KEYS[8], KEYS[3]) end
  redis.call('HSET', KEYS[3], 'doc', ARGV[3], 'v', ARGV[5], 'tok', tok, 'b', bucket, 'p', pos)
end
if ARGV[12] ~= '' then
  redis.call('DEL', KEYS[11])
  redis.call('ZREM', KEYS[12], ARGV[12])
end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[9], 'doc', ARGV[9], 'p', ARGV[11])
  redis.call('ZADD', KEYS[10], ARGV[11], ARGV[10])
end
redis.call('SET', KEYS[1], ARGV[1])
return 'ok'
`)

func (s *Store) Apply(ctx context.Context, w projections.Write) error {
	keys := make([]string, 12)
	args := make([]any, 13)
	for i := range args {
		args[i] = ""
	}
	keys[0] = s.checkpointKey()
	args[0] = w.Position
	args[12] = s.tokenPrefix()
	if o := w.Organization; o != nil {
		doc, err := json.Marshal(o)
		if err != nil {
			return fmt.Errorf("redisstore: encode organization: %w", err)
		}
		keys[1], args[1] = s.orgKey(o.ID), doc
	}
	if inv := w.Invitation; inv != nil {
		doc, err := json.Marshal(invitationDoc(inv.Invitation))
		if err != nil {
			return fmt.Errorf("redisstore: encode invitation: %w", err)
		}
		org := inv.OrganizationID
		keys[2] = s.invPrefix(org) + inv.ID
		keys[3] = s.bucketKey(org, projections.BucketAll)
		keys[4] = s.bucketKey(org, projections.BucketOpen)
		keys[5] = s.bucketKey(org, projections.BucketAccepted)
		keys[6] = s.bucketKey(org, projections.BucketCancelled)
		keys[7] = s.tokenKey(inv.TokenSHA256)
		args[2], args[3], args[4], args[5] = doc, inv.ID, inv.Version, inv.TokenSHA256
		args[6], args[7] = string(projections.BucketOf(inv.Invitation)), inv.Position
	}
	if m := w.Member; m != nil {
		doc, err := json.Marshal(memberDoc(*m))
		if err != nil {
			return fmt.Errorf("redisstore: encode member: %w", err)
		}
		user := userHash(m.UserID)
		keys[8], keys[9] = s.memPrefix(m.OrganizationID)+user, s.membersKey(m.OrganizationID)
		args[8], args[9], args[10] = doc, user, m.Position
	}
	if k := w.RemovedMember; k != nil {
		user := userHash(k.UserID)
		keys[10], keys[11] = s.memPrefix(k.OrganizationID)+user, s.membersKey(k.OrganizationID)
		args[11] = user
	}
	reply, err := applyScript.Run(ctx, s.client, keys, args...).Text()
	if err != nil {
		return fmt.Errorf("redisstore: apply %d: %w", w.Position, err)
	}
	switch reply {
	case "ok":
		return nil
	case "applied":
		return projections.ErrAlreadyApplied
	case "gap":
		return projections.ErrGap
	case "conflict":
		return projections.ErrVersionConflict
	}
	return fmt.Errorf("redisstore: apply %d: unexpected reply %q", w.Position, reply)
}

func (s *Store) Checkpoint(ctx context.Context) (uint64, error) {
	v, err := s.client.Get(ctx, s.checkpointKey()).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: checkpoint: %w", err)
	}
	cp, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redisstore: checkpoint %q: %w", v, err)
	}
	return cp, nil
}

func (s *Store) Organization(ctx context.Context, id string) (projections.Organization, bool, error) {
	var o projections.Organization
	doc, err := s.client.Get(ctx, s.orgKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return o, false, nil
	}
	if err != nil {
		return o, false, fmt.Errorf("redisstore: organization: %w", err)
	}
	if err := json.Unmarshal(doc, &o); err != nil {
		return o, false, fmt.Errorf("redisstore: organization %s: %w", id, err)
	}
	return o, true, nil
}

func (s *Store) Invitation(ctx context.Context, organizationID, id string) (projections.Invitation, bool, error) {
	r, err := s.client.HMGet(ctx, s.invPrefix(organizationID)+id, "doc", "p").Result()
	if err != nil {
		return projections.Invitation{}, false, fmt.Errorf("redisstore: invitation: %w", err)
	}
	if r[0] == nil {
		return projections.Invitation{}, false, nil
	}
	inv, err := decodeInvitation(r[0], r[1])
	return inv, err == nil, err
}

// tokenScript reads the invitation that the token key names, in one round
// trip and consistently with Apply. It answers an empty array for nothing:
// Lua's false would reach a RESP3 client as a boolean, not a nil.
var tokenScript = redis.NewScript(`
local key = redis.call('GET', KEYS[1])
if not key then return {} end
local r = redis.call('HMGET', key, 'doc', 'p')
if not r[1] then return {} end
return r
`)

func (s *Store) InvitationByToken(ctx context.Context, tokenSHA256 string) (projections.Invitation, bool, error) {
	r, err := tokenScript.Run(ctx, s.client, []string{s.tokenKey(tokenSHA256)}).Slice()
	if err != nil {
		return projections.Invitation{}, false, fmt.Errorf("redisstore: invitation by token: %w", err)
	}
	if len(r) != 2 {
		return projections.Invitation{}, false, nil
	}
	inv, err := decodeInvitation(r[0], r[1])
	return inv, err == nil, err
}

// scanScript returns doc, position pairs of up to ARGV[3] records of the
// sorted set KEYS[1] from the score bound ARGV[2], downwards when ARGV[1] is
// 'older'; ARGV[4] prefixes the record keys. A member whose record is gone is
// skipped.
var scanScript = redis.NewScript(`
local ids
if ARGV[1] == 'older' then
  ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[2], '-inf', 'LIMIT', 0, ARGV[3])
else
  ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '+inf', 'LIMIT', 0, ARGV[3])
end
local out = {}
for _, id in ipairs(ids) do
  local r = redis.call('HMGET', ARGV[4] .. id, 'doc', 'p')
  if r[1] then
    out[#out + 1] = r[1]
    out[#out + 1] = r[2]
  end
end
return out
`)

// scan runs scanScript and returns the doc, position pairs.
func (s *Store) scan(ctx context.Context, set, recordPrefix string, cursor uint64, d projections.Direction, n int) ([]any, error) {
	dir, bound := "newer", "("+strconv.FormatUint(cursor, 10)
	if d != projections.Newer {
		dir = "older"
		if cursor == 0 {
			bound = "+inf"
		}
	}
	r, err := scanScript.Run(ctx, s.client, []string{set}, dir, bound, n, recordPrefix).Slice()
	if err != nil {
		return nil, fmt.Errorf("redisstore: scan %s: %w", set, err)
	}
	return r, nil
}

func (s *Store) Invitations(ctx context.Context, organizationID string, b projections.Bucket, cursor uint64, d projections.Direction, n int) ([]projections.Invitation, error) {
	switch b {
	case projections.BucketAll, projections.BucketOpen, projections.BucketAccepted, projections.BucketCancelled:
	default:
		return nil, fmt.Errorf("redisstore: unknown bucket %q", b)
	}
	if n <= 0 {
		return nil, nil
	}
	r, err := s.scan(ctx, s.bucketKey(organizationID, b), s.invPrefix(organizationID), cursor, d, n)
	if err != nil {
		return nil, err
	}
	out := make([]projections.Invitation, 0, len(r)/2)
	for i := 0; i+1 < len(r); i += 2 {
		inv, err := decodeInvitation(r[i], r[i+1])
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, nil
}

func (s *Store) Member(ctx context.Context, organizationID, userID string) (projections.Member, bool, error) {
	r, err := s.client.HMGet(ctx, s.memPrefix(organizationID)+userHash(userID), "doc", "p").Result()
	if err != nil {
		return projections.Member{}, false, fmt.Errorf("redisstore: member: %w", err)
	}
	if r[0] == nil {
		return projections.Member{}, false, nil
	}
	m, err := decodeMember(r[0], r[1])
	return m, err == nil, err
}

func (s *Store) Members(ctx context.Context, organizationID string, cursor uint64, d projections.Direction, n int) ([]projections.Member, error) {
	if n <= 0 {
		return nil, nil
	}
	r, err := s.scan(ctx, s.membersKey(organizationID), s.memPrefix(organizationID), cursor, d, n)
	if err != nil {
		return nil, err
	}
	out := make([]projections.Member, 0, len(r)/2)
	for i := 0; i+1 < len(r); i += 2 {
		m, err := decodeMember(r[i], r[i+1])
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// record reads a doc and position as Redis returns them (strings).
func record(doc, pos any) ([]byte, uint64, error) {
	d, ok1 := doc.(string)
	p, ok2 := pos.(string)
	if !ok1 || !ok2 {
		return nil, 0, fmt.Errorf("redisstore: malformed record (%T, %T)", doc, pos)
	}
	position, err := strconv.ParseUint(p, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: record position %q: %w", p, err)
	}
	return []byte(d), position, nil
}

func decodeInvitation(doc, pos any) (projections.Invitation, error) {
	d, p, err := record(doc, pos)
	if err != nil {
		return projections.Invitation{}, err
	}
	var v invitationDoc
	if err := json.Unmarshal(d, &v); err != nil {
		return projections.Invitation{}, fmt.Errorf("redisstore: invitation record: %w", err)
	}
	return projections.Invitation{Invitation: domain.Invitation(v), Position: p}, nil
}

func decodeMember(doc, pos any) (projections.Member, error) {
	d, p, err := record(doc, pos)
	if err != nil {
		return projections.Member{}, err
	}
	var v memberDoc
	if err := json.Unmarshal(d, &v); err != nil {
		return projections.Member{}, fmt.Errorf("redisstore: member record: %w", err)
	}
	m := projections.Member(v)
	m.Position = p
	return m, nil
}
