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
	// pinned is the generation this store reads and writes, in decimal, or
	// empty to follow the pointer.
	pinned string
}

var _ projections.Store = (*Store)(nil)

// Option changes how New makes a store.
type Option func(*Store)

// InGeneration pins the store to generation n whatever the pointer says: for
// filling a generation before it goes live, or auditing one that may be
// replaced meanwhile.
func InGeneration(n uint64) Option {
	return func(s *Store) { s.pinned = strconv.FormatUint(n, 10) }
}

// New returns a store keeping its keys under prefix, which lets several
// stores (or tests) share one Redis database. It follows the generation
// pointer unless pinned.
func New(client redis.UniversalClient, prefix string, opts ...Option) *Store {
	s := &Store{client: client, prefix: prefix}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Keys outside the generations.
const (
	pointerSuffix = "generation"
	seqSuffix     = "generation-seq"
	lockSuffix    = "rebuild-lock"
)

func (s *Store) pointerKey() string { return s.prefix + pointerSuffix }

// Key names relative to a generation's base; scripts prepend the base.
func orgKey(org string) string                          { return "org:{" + org + "}" }
func invPrefix(org string) string                       { return "inv:{" + org + "}:" }
func invKey(org, id string) string                      { return invPrefix(org) + id }
func bucketsKey(org string) string                      { return "invs:{" + org + "}:" }
func bucketKey(org string, b projections.Bucket) string { return bucketsKey(org) + string(b) }
func memPrefix(org string) string                       { return "mem:{" + org + "}:" }
func memKey(org, user string) string                    { return memPrefix(org) + userHash(user) }
func membersKey(org string) string                      { return "mems:{" + org + "}" }

// generationPrelude starts every script: KEYS[1] is the pointer, ARGV[1] the
// prefix, ARGV[2] the pinned generation (empty: follow the pointer). It sets
// gen, and base, the prefix of the generation's keys; the script's own
// arguments start at ARGV[3].
const generationPrelude = `
local function genbase(g)
  if g == '0' then return ARGV[1] end
  return ARGV[1] .. 'g' .. g .. ':'
end
local gen = ARGV[2]
if gen == '' then gen = redis.call('GET', KEYS[1]) or '0' end
local base = genbase(gen)
`

// newScript makes a script that starts with generationPrelude.
func newScript(body string) *redis.Script { return redis.NewScript(generationPrelude + body) }

// run runs a script made by newScript with the script's own arguments.
func (s *Store) run(ctx context.Context, script *redis.Script, args ...any) *redis.Cmd {
	return script.Run(ctx, s.client, []string{s.pointerKey()}, s.argv(args...)...)
}

func (s *Store) argv(args ...any) []any { return append([]any{s.prefix, s.pinned}, args...) }

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
		EmailHMAC      string      `json:"email_hmac,omitempty"`
		EmailErased    bool        `json:"email_erased,omitempty"`
		KeyGeneration  int         `json:"kgen,omitempty"`
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
		EmailErased    bool        `json:"email_erased,omitempty"`
		Role           domain.Role `json:"role"`
		JoinedAt       time.Time   `json:"at"`
		InvitationID   string      `json:"inv"`
		Position       uint64      `json:"-"`
	}
)

// applyFunction applies one projections.Write. It reads and checks
// everything before its first write, so a refused write changes nothing.
//
// Its arguments, as applyArgs makes them: position; organization key and
// doc; invitation key, doc, id, version, token hash, bucket, creation
// position and the prefix of its organization's bucket keys; added member
// key, its members set, doc, user hash and position; removed member key, its
// members set and user hash; the erased invitations, a JSON array of [key,
// doc] pairs, each replacing the doc of a stored invitation. Key names are
// relative to the generation. An empty doc, hash or array means "no such
// change".
const applyFunction = `
local function apply(position, orgKey, orgDoc, invKey, invDoc, invID, version, tok, bucket, created, buckets,
                     memKey, memSet, memDoc, memUser, memPos, remKey, remSet, remUser, erased)
  local checkpointKey = base .. 'checkpoint'
  local checkpoint = tonumber(redis.call('GET', checkpointKey) or '0')
  if tonumber(position) <= checkpoint then return 'applied' end
  if tonumber(position) > checkpoint + 1 then return 'gap' end

  local inv = invDoc ~= ''
  invKey = base .. invKey
  local old = {}
  if inv then
    old = redis.call('HMGET', invKey, 'v', 'tok', 'b', 'p')
    if tonumber(old[1] or '0') ~= tonumber(version) - 1 then return 'conflict' end
  end

  if orgDoc ~= '' then redis.call('SET', base .. orgKey, orgDoc) end
  if inv then
    buckets = base .. buckets
    local pos = old[4] or created
    if old[3] and old[3] ~= bucket then redis.call('ZREM', buckets .. old[3], invID) end
    redis.call('ZADD', buckets .. 'all', pos, invID)
    redis.call('ZADD', buckets .. bucket, pos, invID)
    -- A cancelled invitation's token finds nothing; a replaced token neither.
    local live = tok ~= '' and bucket ~= 'cancelled'
    if old[2] and old[2] ~= '' and (old[2] ~= tok or not live) then
      redis.call('DEL', base .. 'tok:' .. old[2])
    end
    if live then redis.call('SET', base .. 'tok:' .. tok, invKey) end
    redis.call('HSET', invKey, 'doc', invDoc, 'v', version, 'tok', tok, 'b', bucket, 'p', pos)
  end
  if remUser ~= '' then
    redis.call('DEL', base .. remKey)
    redis.call('ZREM', base .. remSet, remUser)
  end
  if memDoc ~= '' then
    redis.call('HSET', base .. memKey, 'doc', memDoc, 'p', memPos)
    redis.call('ZADD', base .. memSet, memPos, memUser)
  end
  if erased ~= '' then
    for _, e in ipairs(cjson.decode(erased)) do
      if redis.call('EXISTS', base .. e[1]) == 1 then redis.call('HSET', base .. e[1], 'doc', e[2]) end
    end
  end
  redis.call('SET', checkpointKey, position)
  return 'ok'
end
`

// applyArity is the number of arguments of one write.
const applyArity = 20

var (
	// applyScript applies the write in ARGV from 3.
	applyScript = newScript(applyFunction + fmt.Sprintf(`return apply(unpack(ARGV, 3, %d))`, 2+applyArity))
	// applyManyScript applies ARGV[3] writes, their arguments one after the
	// other from ARGV[4], and stops at the first refused: it answers how
	// many it applied and the verdict on the next (ok when none is left).
	applyManyScript = newScript(applyFunction + fmt.Sprintf(`
local n = tonumber(ARGV[3])
for k = 0, n - 1 do
  local first = 4 + %[1]d * k
  local verdict = apply(unpack(ARGV, first, first + %[1]d - 1))
  if verdict ~= 'ok' then return {k, verdict} end
end
return {n, 'ok'}
`, applyArity))
)

// applyArgs are the arguments of applyFunction for w.
func applyArgs(w projections.Write) ([]any, error) {
	args := make([]any, applyArity)
	for i := range args {
		args[i] = ""
	}
	args[0] = w.Position
	if o := w.Organization; o != nil {
		doc, err := json.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("redisstore: encode organization: %w", err)
		}
		args[1], args[2] = orgKey(o.ID), doc
	}
	if inv := w.Invitation; inv != nil {
		doc, err := json.Marshal(invitationDoc(inv.Invitation))
		if err != nil {
			return nil, fmt.Errorf("redisstore: encode invitation: %w", err)
		}
		org := inv.OrganizationID
		args[3], args[4], args[5], args[6], args[7] = invKey(org, inv.ID), doc, inv.ID, inv.Version, inv.TokenSHA256
		args[8], args[9], args[10] = string(projections.BucketOf(inv.Invitation)), inv.Position, bucketsKey(org)
	}
	if m := w.Member; m != nil {
		doc, err := json.Marshal(memberDoc(*m))
		if err != nil {
			return nil, fmt.Errorf("redisstore: encode member: %w", err)
		}
		args[11], args[12], args[13] = memKey(m.OrganizationID, m.UserID), membersKey(m.OrganizationID), doc
		args[14], args[15] = userHash(m.UserID), m.Position
	}
	if k := w.RemovedMember; k != nil {
		args[16], args[17], args[18] = memKey(k.OrganizationID, k.UserID), membersKey(k.OrganizationID), userHash(k.UserID)
	}
	if len(w.ErasedInvitations) > 0 {
		pairs := make([][2]string, len(w.ErasedInvitations))
		for i, inv := range w.ErasedInvitations {
			doc, err := json.Marshal(invitationDoc(inv.Invitation))
			if err != nil {
				return nil, fmt.Errorf("redisstore: encode invitation: %w", err)
			}
			pairs[i] = [2]string{invKey(inv.OrganizationID, inv.ID), string(doc)}
		}
		erased, err := json.Marshal(pairs)
		if err != nil {
			return nil, fmt.Errorf("redisstore: encode erased invitations: %w", err)
		}
		args[19] = erased
	}
	return args, nil
}

// applyVerdict turns applyFunction's answer into the store's verdict.
func applyVerdict(reply string) error {
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
	return fmt.Errorf("redisstore: apply: unexpected reply %q", reply)
}

func (s *Store) Apply(ctx context.Context, w projections.Write) error {
	args, err := applyArgs(w)
	if err != nil {
		return err
	}
	reply, err := s.run(ctx, applyScript, args...).Text()
	if err != nil {
		return fmt.Errorf("redisstore: apply %d: %w", w.Position, err)
	}
	return applyVerdict(reply)
}

var checkpointScript = newScript(`return redis.call('GET', base .. 'checkpoint') or '0'`)

func (s *Store) Checkpoint(ctx context.Context) (uint64, error) {
	v, err := s.run(ctx, checkpointScript).Text()
	if err != nil {
		return 0, fmt.Errorf("redisstore: checkpoint: %w", err)
	}
	cp, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redisstore: checkpoint %q: %w", v, err)
	}
	return cp, nil
}

// Generation is the generation the store reads: the pinned one, or the one
// the pointer names now.
func (s *Store) Generation(ctx context.Context) (uint64, error) {
	if s.pinned != "" {
		return strconv.ParseUint(s.pinned, 10, 64)
	}
	v, err := s.client.Get(ctx, s.pointerKey()).Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: generation: %w", err)
	}
	return v, nil
}

// Reads answer an empty array for nothing: Lua's false would reach a RESP3
// client as a boolean, not a nil.
var (
	// stringScript reads the string at ARGV[3].
	stringScript = newScript(`
local v = redis.call('GET', base .. ARGV[3])
if not v then return {} end
return {v}
`)
	// recordScript reads the doc and position of the hash at ARGV[3].
	recordScript = newScript(`
local r = redis.call('HMGET', base .. ARGV[3], 'doc', 'p')
if not r[1] then return {} end
return r
`)
	// tokenScript is a token look-up in one call: for the token ARGV[3], the
	// checkpoint, the doc and position of the invitation its key names, and
	// the doc of that invitation's organization ('' for none). The
	// organization id is the hash tag of the invitation key, which spares
	// decoding the doc. A miss reads keys that never exist (ids are not
	// empty), so that it runs the same commands as a hit.
	tokenScript = newScript(`
local key = redis.call('GET', base .. 'tok:' .. ARGV[3])
local org = ''
if key then
  org = string.match(key, '^inv:{([^}]*)}:', #base + 1)
else
  key = base .. 'inv:{}:'
end
local r = redis.call('HMGET', key, 'doc', 'p')
-- A key of another generation (see Keys) has another base: the doc knows.
if not org then org = r[1] and cjson.decode(r[1]).org or '' end
local o = redis.call('GET', base .. 'org:{' .. org .. '}')
local cp = redis.call('GET', base .. 'checkpoint') or '0'
return {cp, r[1] or '', r[2] or '', o or ''}
`)
)

func (s *Store) Organization(ctx context.Context, id string) (projections.Organization, bool, error) {
	var o projections.Organization
	r, err := s.run(ctx, stringScript, orgKey(id)).Slice()
	if err != nil {
		return o, false, fmt.Errorf("redisstore: organization: %w", err)
	}
	if len(r) != 1 {
		return o, false, nil
	}
	doc, ok := r[0].(string)
	if !ok {
		return o, false, fmt.Errorf("redisstore: organization %s: malformed record (%T)", id, r[0])
	}
	if err := json.Unmarshal([]byte(doc), &o); err != nil {
		return o, false, fmt.Errorf("redisstore: organization %s: %w", id, err)
	}
	return o, true, nil
}

// record runs a script answering a doc and a position, and decodes them.
func record[T any](ctx context.Context, s *Store, script *redis.Script, decode func(doc, pos any) (T, error), arg string) (T, bool, error) {
	var zero T
	r, err := s.run(ctx, script, arg).Slice()
	if err != nil {
		return zero, false, fmt.Errorf("redisstore: read %s: %w", arg, err)
	}
	if len(r) != 2 {
		return zero, false, nil
	}
	v, err := decode(r[0], r[1])
	return v, err == nil, err
}

func (s *Store) Invitation(ctx context.Context, organizationID, id string) (projections.Invitation, bool, error) {
	return record(ctx, s, recordScript, decodeInvitation, invKey(organizationID, id))
}

func (s *Store) InvitationByToken(ctx context.Context, tokenSHA256 string) (projections.TokenMatch, error) {
	var m projections.TokenMatch
	r, err := s.run(ctx, tokenScript, tokenSHA256).StringSlice()
	if err != nil {
		return m, fmt.Errorf("redisstore: token look-up: %w", err)
	}
	if len(r) != 4 {
		return m, fmt.Errorf("redisstore: token look-up: malformed reply of %d items", len(r))
	}
	cp, err := strconv.ParseUint(r[0], 10, 64)
	if err != nil {
		return m, fmt.Errorf("redisstore: checkpoint %q: %w", r[0], err)
	}
	if r[1] == "" {
		return projections.TokenMatch{Checkpoint: cp}, nil
	}
	inv, err := decodeInvitation(r[1], r[2])
	if err != nil {
		return m, err
	}
	var org projections.Organization
	if r[3] != "" {
		if err := json.Unmarshal([]byte(r[3]), &org); err != nil {
			return m, fmt.Errorf("redisstore: organization %s: %w", inv.OrganizationID, err)
		}
		// The script found the organization by the key's name: the answer
		// must be the one the doc names.
		if org.ID != inv.OrganizationID {
			return m, fmt.Errorf("redisstore: token of invitation %s/%s found organization %q", inv.OrganizationID, inv.ID, org.ID)
		}
	}
	return projections.TokenMatch{Invitation: inv, Organization: org, Found: true, Checkpoint: cp}, nil
}

// scanScript returns doc, position pairs of up to ARGV[6] records of the
// sorted set ARGV[3] from the score bound ARGV[5], downwards when ARGV[4] is
// 'older', then the checkpoint; ARGV[7] prefixes the record keys. A member
// whose record is gone is skipped.
var scanScript = newScript(`
local ids
if ARGV[4] == 'older' then
  ids = redis.call('ZREVRANGEBYSCORE', base .. ARGV[3], ARGV[5], '-inf', 'LIMIT', 0, ARGV[6])
else
  ids = redis.call('ZRANGEBYSCORE', base .. ARGV[3], ARGV[5], '+inf', 'LIMIT', 0, ARGV[6])
end
local out = {}
for _, id in ipairs(ids) do
  local r = redis.call('HMGET', base .. ARGV[7] .. id, 'doc', 'p')
  if r[1] then
    out[#out + 1] = r[1]
    out[#out + 1] = r[2]
  end
end
out[#out + 1] = redis.call('GET', base .. 'checkpoint') or '0'
return out
`)

// scan runs scanScript and decodes the doc, position pairs and the checkpoint.
func scan[T any](ctx context.Context, s *Store, set, recordPrefix string, cursor uint64, d projections.Direction, n int, decode func(doc, pos any) (T, error)) (projections.Scan[T], error) {
	var sc projections.Scan[T]
	dir, bound := "newer", "("+strconv.FormatUint(cursor, 10)
	if d != projections.Newer {
		dir = "older"
		if cursor == 0 {
			bound = "+inf"
		}
	}
	// A negative LIMIT count would read the whole set.
	r, err := s.run(ctx, scanScript, set, dir, bound, max(n, 0), recordPrefix).Slice()
	if err != nil {
		return sc, fmt.Errorf("redisstore: scan %s: %w", set, err)
	}
	if len(r)%2 != 1 {
		return sc, fmt.Errorf("redisstore: scan %s: malformed reply of %d items", set, len(r))
	}
	cp, ok := r[len(r)-1].(string)
	if !ok {
		return sc, fmt.Errorf("redisstore: scan %s: malformed checkpoint (%T)", set, r[len(r)-1])
	}
	if sc.Checkpoint, err = strconv.ParseUint(cp, 10, 64); err != nil {
		return sc, fmt.Errorf("redisstore: checkpoint %q: %w", cp, err)
	}
	sc.Items = make([]T, 0, len(r)/2)
	for i := 0; i+1 < len(r); i += 2 {
		v, err := decode(r[i], r[i+1])
		if err != nil {
			return projections.Scan[T]{}, err
		}
		sc.Items = append(sc.Items, v)
	}
	return sc, nil
}

func (s *Store) Invitations(ctx context.Context, organizationID string, b projections.Bucket, cursor uint64, d projections.Direction, n int) (projections.Scan[projections.Invitation], error) {
	switch b {
	case projections.BucketAll, projections.BucketOpen, projections.BucketAccepted, projections.BucketCancelled:
	default:
		return projections.Scan[projections.Invitation]{}, fmt.Errorf("redisstore: unknown bucket %q", b)
	}
	return scan(ctx, s, bucketKey(organizationID, b), invPrefix(organizationID), cursor, d, n, decodeInvitation)
}

func (s *Store) Member(ctx context.Context, organizationID, userID string) (projections.Member, bool, error) {
	return record(ctx, s, recordScript, decodeMember, memKey(organizationID, userID))
}

func (s *Store) Members(ctx context.Context, organizationID string, cursor uint64, d projections.Direction, n int) (projections.Scan[projections.Member], error) {
	return scan(ctx, s, membersKey(organizationID), memPrefix(organizationID), cursor, d, n, decodeMember)
}

func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// docAndPosition reads a doc and position as Redis returns them (strings).
func docAndPosition(doc, pos any) ([]byte, uint64, error) {
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
	d, p, err := docAndPosition(doc, pos)
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
	d, p, err := docAndPosition(doc, pos)
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
