package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
)

// Run checks a store against the contract documented in package
// projections. newStore returns an empty store; each subtest gets its own.
func Run(t *testing.T, newStore func(t *testing.T) projections.Store) {
	tests := []struct {
		name string
		test func(*testing.T, projections.Store)
	}{
		{"Empty", testEmpty},
		{"ApplySequence", testApplySequence},
		{"AlreadyAppliedAndGapChangeNothing", testAlreadyAppliedAndGap},
		{"VersionConflictChangesNothing", testVersionConflict},
		{"ApplyBatch", testApplyBatch},
		{"Buckets", testBuckets},
		{"UpdateKeepsCreationPosition", testCreationPosition},
		{"TokenIndex", testTokenIndex},
		{"InvitationScans", testInvitationScans},
		{"Members", testMembers},
		{"ErasedInvitations", testErasedInvitations},
		{"ConcurrentApplySamePosition", testConcurrentApply},
		{"ConcurrentReaders", testConcurrentReaders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newStore(t)) })
	}
}

var (
	t0      = time.Date(2026, 11, 23, 9, 42, 0, 0, time.UTC)
	buckets = []projections.Bucket{projections.BucketAll, projections.BucketOpen,
		projections.BucketAccepted, projections.BucketCancelled}
)

// tokenHash is the SHA-256 of the n-th token of invitation id.
func tokenHash(id string, n int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", id, n)))
	return hex.EncodeToString(h[:])
}

// feed applies writes at consecutive positions, failing the test on error.
type feed struct {
	t   *testing.T
	s   projections.Store
	pos uint64
}

func (f *feed) apply(w projections.Write) {
	f.t.Helper()
	f.pos++
	w.Position = f.pos
	if err := f.s.Apply(f.t.Context(), w); err != nil {
		f.t.Fatalf("apply %d: %v", f.pos, err)
	}
}

func (f *feed) org(id, name string) projections.Organization {
	f.t.Helper()
	o := projections.Organization{ID: id, Name: name, CreatedAt: t0}
	f.apply(projections.Write{Organization: &o})
	return o
}

func newInvitation(orgID, id string, pos uint64) projections.Invitation {
	return projections.Invitation{Position: pos, Invitation: domain.Invitation{
		ID: id, OrganizationID: orgID, Email: id + "@example.com", Role: domain.RoleMember,
		TokenSHA256: tokenHash(id, 1), CreatedAt: t0, CreatedBy: "user-1",
		ExpiresAt: t0.Add(7 * 24 * time.Hour), Version: 1,
	}}
}

func (f *feed) invite(orgID, id string) projections.Invitation {
	f.t.Helper()
	inv := newInvitation(orgID, id, f.pos+1)
	f.apply(projections.Write{Invitation: &inv})
	return inv
}

// change applies the next version of inv, evolved by evolve.
func (f *feed) change(inv projections.Invitation, evolve func(*domain.Invitation)) projections.Invitation {
	f.t.Helper()
	evolve(&inv.Invitation)
	inv.Version++
	f.apply(projections.Write{Invitation: &inv})
	return inv
}

func newMember(orgID, userID string, role domain.Role, pos uint64) projections.Member {
	return projections.Member{OrganizationID: orgID, UserID: userID, Email: userID + "@example.com",
		Role: role, JoinedAt: t0, InvitationID: "inv-" + userID, Position: pos}
}

func (f *feed) join(orgID, userID string, role domain.Role) projections.Member {
	f.t.Helper()
	m := newMember(orgID, userID, role, f.pos+1)
	f.apply(projections.Write{Member: &m})
	return m
}

func (f *feed) leave(orgID, userID string) {
	f.t.Helper()
	f.apply(projections.Write{RemovedMember: &projections.MemberKey{OrganizationID: orgID, UserID: userID}})
}

func accept(i *domain.Invitation) { i.AcceptedAt, i.AcceptedBy = t0.Add(time.Hour), "user-42" }
func cancel(i *domain.Invitation) { i.CancelledAt, i.CancelledBy = t0.Add(time.Hour), "user-1" }
func expire(i *domain.Invitation) { i.ExpiredEvent = true }
func resend(i *domain.Invitation) {
	i.TokenSHA256 = tokenHash(i.ID, i.Version+1)
	i.ExpiresAt = i.ExpiresAt.Add(24 * time.Hour)
	i.ExpiredEvent = false
}

func wantCheckpoint(t *testing.T, s projections.Store, want uint64) {
	t.Helper()
	got, err := s.Checkpoint(t.Context())
	if err != nil || got != want {
		t.Fatalf("Checkpoint() = %d, %v; want %d", got, err, want)
	}
}

func checkpoint(t *testing.T, s projections.Store) uint64 {
	t.Helper()
	cp, err := s.Checkpoint(t.Context())
	if err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	return cp
}

func wantOrganization(t *testing.T, s projections.Store, want projections.Organization) {
	t.Helper()
	got, ok, err := s.Organization(t.Context(), want.ID)
	if err != nil || !ok || got != want {
		t.Fatalf("Organization(%s) = %+v, %v, %v; want %+v", want.ID, got, ok, err, want)
	}
}

func wantInvitation(t *testing.T, s projections.Store, want projections.Invitation) {
	t.Helper()
	got, ok, err := s.Invitation(t.Context(), want.OrganizationID, want.ID)
	if err != nil || !ok || got != want {
		t.Fatalf("Invitation(%s, %s) = %+v, %v, %v; want %+v", want.OrganizationID, want.ID, got, ok, err, want)
	}
}

func wantNoInvitation(t *testing.T, s projections.Store, orgID, id string) {
	t.Helper()
	got, ok, err := s.Invitation(t.Context(), orgID, id)
	if err != nil || ok {
		t.Fatalf("Invitation(%s, %s) = %+v, %v, %v; want not found", orgID, id, got, ok, err)
	}
}

// wantToken checks the token index: want nil means not found. A match also
// carries the invitation's organization as stored (zero when it is not) and
// the checkpoint.
func wantToken(t *testing.T, s projections.Store, tokenSHA256 string, want *projections.Invitation) {
	t.Helper()
	ctx := t.Context()
	wantMatch := projections.TokenMatch{Checkpoint: checkpoint(t, s)}
	if want != nil {
		org, _, err := s.Organization(ctx, want.OrganizationID)
		if err != nil {
			t.Fatalf("Organization(%s): %v", want.OrganizationID, err)
		}
		wantMatch.Invitation, wantMatch.Organization, wantMatch.Found = *want, org, true
	}
	got, err := s.InvitationByToken(ctx, tokenSHA256)
	switch {
	case err != nil:
		t.Fatalf("InvitationByToken(%.8s…): %v", tokenSHA256, err)
	case got != wantMatch:
		t.Fatalf("InvitationByToken(%.8s…) = %+v; want %+v", tokenSHA256, got, wantMatch)
	}
}

func wantMember(t *testing.T, s projections.Store, want projections.Member) {
	t.Helper()
	got, ok, err := s.Member(t.Context(), want.OrganizationID, want.UserID)
	if err != nil || !ok || got != want {
		t.Fatalf("Member(%s, %s) = %+v, %v, %v; want %+v", want.OrganizationID, want.UserID, got, ok, err, want)
	}
}

func wantNoMember(t *testing.T, s projections.Store, orgID, userID string) {
	t.Helper()
	got, ok, err := s.Member(t.Context(), orgID, userID)
	if err != nil || ok {
		t.Fatalf("Member(%s, %s) = %+v, %v, %v; want not found", orgID, userID, got, ok, err)
	}
}

func invitationIDs(l []projections.Invitation) []string {
	ids := make([]string, len(l))
	for i, inv := range l {
		ids[i] = fmt.Sprintf("%s@%d", inv.ID, inv.Position)
	}
	return ids
}

func memberIDs(l []projections.Member) []string {
	ids := make([]string, len(l))
	for i, m := range l {
		ids[i] = fmt.Sprintf("%s@%d", m.UserID, m.Position)
	}
	return ids
}

// wantScan checks a scan of invitations, and that it carries the checkpoint.
func wantScan(t *testing.T, s projections.Store, orgID string, b projections.Bucket, cursor uint64, d projections.Direction, n int, want ...projections.Invitation) {
	t.Helper()
	cp := checkpoint(t, s)
	got, err := s.Invitations(t.Context(), orgID, b, cursor, d, n)
	if err != nil {
		t.Fatalf("Invitations(%s, %s, %d, %d, %d): %v", orgID, b, cursor, d, n, err)
	}
	if !slices.Equal(got.Items, want) || got.Checkpoint != cp {
		t.Fatalf("Invitations(%s, %s, %d, %d, %d) = %v at checkpoint %d; want %v at %d\ngot  %+v\nwant %+v", orgID, b, cursor, d, n,
			invitationIDs(got.Items), got.Checkpoint, invitationIDs(want), cp, got.Items, want)
	}
}

// wantMembers checks a scan of members, and that it carries the checkpoint.
func wantMembers(t *testing.T, s projections.Store, orgID string, cursor uint64, d projections.Direction, n int, want ...projections.Member) {
	t.Helper()
	cp := checkpoint(t, s)
	got, err := s.Members(t.Context(), orgID, cursor, d, n)
	if err != nil {
		t.Fatalf("Members(%s, %d, %d, %d): %v", orgID, cursor, d, n, err)
	}
	if !slices.Equal(got.Items, want) || got.Checkpoint != cp {
		t.Fatalf("Members(%s, %d, %d, %d) = %v at checkpoint %d; want %v at %d\ngot  %+v\nwant %+v", orgID, cursor, d, n,
			memberIDs(got.Items), got.Checkpoint, memberIDs(want), cp, got.Items, want)
	}
}

// snapshot is what a store answers about the probed keys.
type snapshot struct {
	Checkpoint  uint64
	Orgs        map[string]projections.Organization
	Invitations map[string]projections.Invitation   // by org/id
	Lists       map[string][]projections.Invitation // by org/bucket
	Tokens      map[string]projections.TokenMatch
	Members     map[string]projections.Member // by org/user
	MemberLists map[string][]projections.Member
}

// probe names the keys a snapshot reads: every id and user in every org.
type probe struct {
	orgs, invitations, users, tokens []string
}

func takeSnapshot(t *testing.T, s projections.Store, p probe) snapshot {
	t.Helper()
	ctx := t.Context()
	snap := snapshot{Orgs: map[string]projections.Organization{}, Invitations: map[string]projections.Invitation{},
		Lists: map[string][]projections.Invitation{}, Tokens: map[string]projections.TokenMatch{},
		Members: map[string]projections.Member{}, MemberLists: map[string][]projections.Member{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
	}
	var err error
	snap.Checkpoint, err = s.Checkpoint(ctx)
	must(err)
	for _, org := range p.orgs {
		o, ok, err := s.Organization(ctx, org)
		must(err)
		if ok {
			snap.Orgs[org] = o
		}
		for _, id := range p.invitations {
			inv, ok, err := s.Invitation(ctx, org, id)
			must(err)
			if ok {
				snap.Invitations[org+"/"+id] = inv
			}
		}
		for _, b := range buckets {
			l, err := s.Invitations(ctx, org, b, 0, projections.Older, 1000)
			must(err)
			snap.Lists[org+"/"+string(b)] = l.Items
		}
		for _, u := range p.users {
			m, ok, err := s.Member(ctx, org, u)
			must(err)
			if ok {
				snap.Members[org+"/"+u] = m
			}
		}
		l, err := s.Members(ctx, org, 0, projections.Older, 1000)
		must(err)
		snap.MemberLists[org] = l.Items
	}
	for _, tok := range p.tokens {
		m, err := s.InvitationByToken(ctx, tok)
		must(err)
		if m.Found {
			snap.Tokens[tok] = m
		}
	}
	return snap
}

func wantSnapshot(t *testing.T, s projections.Store, p probe, want snapshot) {
	t.Helper()
	if got := takeSnapshot(t, s, p); !reflect.DeepEqual(got, want) {
		t.Fatalf("store changed:\ngot  %+v\nwant %+v", got, want)
	}
}
