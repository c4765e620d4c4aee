package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
)

func testEmpty(t *testing.T, s projections.Store) {
	ctx := t.Context()
	wantCheckpoint(t, s, 0)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if o, ok, err := s.Organization(ctx, "acme"); err != nil || ok {
		t.Fatalf("Organization(acme) = %+v, %v, %v; want not found", o, ok, err)
	}
	wantNoInvitation(t, s, "acme", "a")
	wantToken(t, s, tokenHash("a", 1), nil)
	wantNoMember(t, s, "acme", "user-1")
	for _, b := range buckets {
		wantScan(t, s, "acme", b, 0, projections.Older, 10)
		wantScan(t, s, "acme", b, 0, projections.Newer, 10)
	}
	wantMembers(t, s, "acme", 0, projections.Older, 10)
	wantMembers(t, s, "acme", 0, projections.Newer, 10)
}

func testApplySequence(t *testing.T, s projections.Store) {
	f := &feed{t: t, s: s}
	acme := f.org("acme", "Acme")
	wantCheckpoint(t, s, 1)
	wantOrganization(t, s, acme)

	acme.Name = "Acme Corp"
	f.apply(projections.Write{Organization: &acme})
	wantCheckpoint(t, s, 2)
	wantOrganization(t, s, acme)

	a := f.invite("acme", "a")
	wantCheckpoint(t, s, 3)
	wantInvitation(t, s, a)
	wantNoInvitation(t, s, "other", "a")

	m := f.join("acme", "user-1", domain.RoleMember)
	wantCheckpoint(t, s, 4)
	wantMember(t, s, m)
	wantNoMember(t, s, "other", "user-1")

	// Events without a read model still move the checkpoint.
	f.apply(projections.Write{})
	wantCheckpoint(t, s, 5)

	// One write may change every kind of record, in several organizations.
	beta := projections.Organization{ID: "beta", Name: "Beta", CreatedAt: t0}
	b := newInvitation("beta", "b", 6)
	bm := newMember("beta", "user-2", domain.RoleAdmin, 6)
	f.apply(projections.Write{Organization: &beta, Invitation: &b, Member: &bm,
		RemovedMember: &projections.MemberKey{OrganizationID: "acme", UserID: "user-1"}})
	wantCheckpoint(t, s, 6)
	wantOrganization(t, s, beta)
	wantOrganization(t, s, acme)
	wantInvitation(t, s, b)
	wantToken(t, s, b.TokenSHA256, &b)
	wantScan(t, s, "beta", projections.BucketOpen, 0, projections.Older, 10, b)
	wantMember(t, s, bm)
	wantMembers(t, s, "beta", 0, projections.Newer, 10, bm)
	wantNoMember(t, s, "acme", "user-1")
	wantMembers(t, s, "acme", 0, projections.Newer, 10)
}

func testAlreadyAppliedAndGap(t *testing.T, s projections.Store) {
	ctx := t.Context()
	// A store that applied nothing: 1 is next, 0 counts as applied.
	for _, c := range []struct {
		pos  uint64
		want error
	}{{0, projections.ErrAlreadyApplied}, {2, projections.ErrGap}} {
		if err := s.Apply(ctx, projections.Write{Position: c.pos}); !errors.Is(err, c.want) {
			t.Fatalf("Apply(%d) on an empty store = %v; want %v", c.pos, err, c.want)
		}
	}
	wantCheckpoint(t, s, 0)

	f := &feed{t: t, s: s}
	f.org("acme", "Acme")
	a := f.invite("acme", "a")
	f.join("acme", "user-1", domain.RoleMember)
	p := probe{orgs: []string{"acme"}, invitations: []string{"a"}, users: []string{"user-1", "user-2"},
		tokens: []string{a.TokenSHA256, tokenHash("a", 2)}}
	before := takeSnapshot(t, s, p)

	// Each refused write would change everything if it were applied: the
	// organization, the invitation's token and bucket, the members.
	next := a
	resend(&next.Invitation)
	cancel(&next.Invitation)
	next.Version++
	write := func(pos uint64) projections.Write {
		m := newMember("acme", "user-2", domain.RoleOwner, pos)
		return projections.Write{Position: pos,
			Organization:  &projections.Organization{ID: "acme", Name: "Renamed", CreatedAt: t0},
			Invitation:    &next,
			Member:        &m,
			RemovedMember: &projections.MemberKey{OrganizationID: "acme", UserID: "user-1"}}
	}
	for _, c := range []struct {
		pos  uint64
		want error
	}{{3, projections.ErrAlreadyApplied}, {1, projections.ErrAlreadyApplied},
		{5, projections.ErrGap}, {1000, projections.ErrGap}} {
		if err := s.Apply(ctx, write(c.pos)); !errors.Is(err, c.want) {
			t.Fatalf("Apply(%d) at checkpoint 3 = %v; want %v", c.pos, err, c.want)
		}
	}
	wantSnapshot(t, s, p, before)

	// The refusals consumed nothing: 4 is still next.
	if err := s.Apply(ctx, write(4)); err != nil {
		t.Fatalf("Apply(4) = %v", err)
	}
	wantCheckpoint(t, s, 4)
	wantInvitation(t, s, next)
	wantScan(t, s, "acme", projections.BucketCancelled, 0, projections.Older, 10, next)
	wantNoMember(t, s, "acme", "user-1")
}

func testVersionConflict(t *testing.T, s projections.Store) {
	ctx := t.Context()
	f := &feed{t: t, s: s}
	f.org("acme", "Acme")
	a := f.invite("acme", "a")
	f.join("acme", "user-1", domain.RoleMember)
	p := probe{orgs: []string{"acme"}, invitations: []string{"a", "b"}, users: []string{"user-1", "user-2"},
		tokens: []string{a.TokenSHA256, tokenHash("a", 2), tokenHash("a", 3), tokenHash("b", 1)}}
	before := takeSnapshot(t, s, p)

	recreated := a
	resend(&recreated.Invitation)
	skipped := a
	resend(&skipped.Invitation)
	cancel(&skipped.Invitation)
	skipped.Version = 3
	newAtTwo := newInvitation("acme", "b", 4)
	newAtTwo.Version = 2
	newAtZero := newInvitation("acme", "b", 4)
	newAtZero.Version = 0
	for name, inv := range map[string]projections.Invitation{
		"existing at version 1": recreated, "existing skipping a version": skipped,
		"new at version 2": newAtTwo, "new at version 0": newAtZero,
	} {
		m := newMember("acme", "user-2", domain.RoleOwner, 4)
		err := s.Apply(ctx, projections.Write{Position: 4,
			Organization:  &projections.Organization{ID: "acme", Name: "Renamed", CreatedAt: t0},
			Invitation:    &inv,
			Member:        &m,
			RemovedMember: &projections.MemberKey{OrganizationID: "acme", UserID: "user-1"}})
		if !errors.Is(err, projections.ErrVersionConflict) {
			t.Fatalf("%s: Apply = %v; want ErrVersionConflict", name, err)
		}
		wantSnapshot(t, s, p, before)
	}

	// The position was not consumed: the right version applies at 4.
	a = f.change(a, accept)
	wantCheckpoint(t, s, 4)
	wantInvitation(t, s, a)
}

func testBuckets(t *testing.T, s projections.Store) {
	f := &feed{t: t, s: s}
	a, b, c := f.invite("acme", "a"), f.invite("acme", "b"), f.invite("acme", "c")
	wantScan(t, s, "acme", projections.BucketAll, 0, projections.Older, 10, c, b, a)
	wantScan(t, s, "acme", projections.BucketOpen, 0, projections.Older, 10, c, b, a)
	wantScan(t, s, "acme", projections.BucketAccepted, 0, projections.Older, 10)
	wantScan(t, s, "acme", projections.BucketCancelled, 0, projections.Older, 10)

	a = f.change(a, accept)
	wantInvitation(t, s, a)
	wantScan(t, s, "acme", projections.BucketAll, 0, projections.Older, 10, c, b, a)
	wantScan(t, s, "acme", projections.BucketOpen, 0, projections.Older, 10, c, b)
	wantScan(t, s, "acme", projections.BucketAccepted, 0, projections.Older, 10, a)

	b = f.change(b, cancel)
	wantInvitation(t, s, b)
	wantScan(t, s, "acme", projections.BucketAll, 0, projections.Older, 10, c, b, a)
	wantScan(t, s, "acme", projections.BucketOpen, 0, projections.Older, 10, c)
	wantScan(t, s, "acme", projections.BucketCancelled, 0, projections.Older, 10, b)
	wantScan(t, s, "acme", projections.BucketAccepted, 0, projections.Older, 10, a)

	// Expired invitations are open: they can still be resent.
	c = f.change(c, expire)
	wantScan(t, s, "acme", projections.BucketOpen, 0, projections.Older, 10, c)
	c = f.change(c, resend)
	wantInvitation(t, s, c)
	wantScan(t, s, "acme", projections.BucketOpen, 0, projections.Older, 10, c)
	wantScan(t, s, "acme", projections.BucketAll, 0, projections.Newer, 10, a, b, c)
}

func testCreationPosition(t *testing.T, s projections.Store) {
	f := &feed{t: t, s: s}
	a, b := f.invite("acme", "a"), f.invite("acme", "b")
	// A write that carries the event's position instead of the creation's
	// must not move the invitation in its lists.
	next := a
	accept(&next.Invitation)
	next.Version++
	next.Position = f.pos + 1
	f.apply(projections.Write{Invitation: &next})
	want := next
	want.Position = a.Position
	wantInvitation(t, s, want)
	wantScan(t, s, "acme", projections.BucketAll, 0, projections.Older, 10, b, want)
	wantScan(t, s, "acme", projections.BucketAccepted, 0, projections.Older, 10, want)
	wantScan(t, s, "acme", projections.BucketAll, a.Position, projections.Newer, 10, b)
}

func testTokenIndex(t *testing.T, s projections.Store) {
	f := &feed{t: t, s: s}
	f.org("acme", "Acme")
	a := f.invite("acme", "a")
	wantToken(t, s, a.TokenSHA256, &a)

	first := a.TokenSHA256
	a = f.change(a, resend)
	if a.TokenSHA256 == first {
		t.Fatal("resend kept the token")
	}
	wantToken(t, s, first, nil)
	wantToken(t, s, a.TokenSHA256, &a)

	a = f.change(a, expire)
	wantToken(t, s, a.TokenSHA256, &a)
	a = f.change(a, accept)
	wantToken(t, s, a.TokenSHA256, &a)

	b := f.invite("acme", "b")
	b = f.change(b, cancel)
	wantToken(t, s, b.TokenSHA256, nil)
	wantInvitation(t, s, b)

	// Resent then cancelled: neither token works.
	c := f.invite("acme", "c")
	c1 := c.TokenSHA256
	c = f.change(c, resend)
	c = f.change(c, cancel)
	wantToken(t, s, c1, nil)
	wantToken(t, s, c.TokenSHA256, nil)

	// The index spans organizations; one never stored leaves the match's
	// organization zero.
	d := f.invite("other", "d")
	wantToken(t, s, d.TokenSHA256, &d)
	wantToken(t, s, a.TokenSHA256, &a)
	if m, err := s.InvitationByToken(t.Context(), d.TokenSHA256); err != nil || m.Organization != (projections.Organization{}) {
		t.Fatalf("InvitationByToken(d) = %+v, %v; want no organization", m, err)
	}

	// A match reads the organization as it is now.
	f.org("acme", "Acme Corp")
	wantToken(t, s, a.TokenSHA256, &a)
	if m, err := s.InvitationByToken(t.Context(), a.TokenSHA256); err != nil || m.Organization.Name != "Acme Corp" {
		t.Fatalf("InvitationByToken(a) = %+v, %v; want the renamed organization", m, err)
	}
}

func testInvitationScans(t *testing.T, s projections.Store) {
	f := &feed{t: t, s: s}
	// Interleaved organizations: acme at 1, 3, 5, 7, 9; other at 2, 4, 6, 8.
	var acme, other []projections.Invitation
	for i := range 5 {
		acme = append(acme, f.invite("acme", fmt.Sprintf("a%d", i)))
		if i < 4 {
			other = append(other, f.invite("other", fmt.Sprintf("o%d", i)))
		}
	}
	all := projections.BucketAll
	older, newer := projections.Older, projections.Newer
	wantScan(t, s, "acme", all, 0, older, 3, acme[4], acme[3], acme[2])
	wantScan(t, s, "acme", all, acme[2].Position, older, 10, acme[1], acme[0])
	wantScan(t, s, "acme", all, acme[2].Position+1, older, 2, acme[2], acme[1])
	wantScan(t, s, "acme", all, acme[0].Position, older, 10)
	wantScan(t, s, "acme", all, 1000, older, 10, acme[4], acme[3], acme[2], acme[1], acme[0])
	wantScan(t, s, "acme", all, 0, newer, 2, acme[0], acme[1])
	wantScan(t, s, "acme", all, acme[1].Position, newer, 10, acme[2], acme[3], acme[4])
	wantScan(t, s, "acme", all, acme[2].Position+1, newer, 10, acme[3], acme[4])
	wantScan(t, s, "acme", all, acme[4].Position, newer, 10)
	wantScan(t, s, "acme", all, 0, older, 0)
	wantScan(t, s, "acme", all, 0, newer, 0)
	wantScan(t, s, "acme", all, 0, older, -1)
	wantScan(t, s, "other", all, 0, older, 10, other[3], other[2], other[1], other[0])
	wantScan(t, s, "other", all, other[0].Position, newer, 2, other[1], other[2])
	wantScan(t, s, "nobody", all, 0, older, 10)

	// Paging with the last position as cursor visits everything once.
	for _, d := range []projections.Direction{older, newer} {
		var got []projections.Invitation
		var cursor uint64
		for {
			page, err := s.Invitations(t.Context(), "acme", all, cursor, d, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) == 0 {
				break
			}
			got = append(got, page.Items...)
			cursor = page.Items[len(page.Items)-1].Position
		}
		want := slices.Clone(acme)
		if d == older {
			slices.Reverse(want)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paging in direction %d: %v; want %v", d, invitationIDs(got), invitationIDs(want))
		}
	}

	acme[1] = f.change(acme[1], accept)
	acme[3] = f.change(acme[3], accept)
	other[1] = f.change(other[1], accept)
	accepted, open := projections.BucketAccepted, projections.BucketOpen
	wantScan(t, s, "acme", accepted, 0, older, 10, acme[3], acme[1])
	wantScan(t, s, "acme", accepted, acme[3].Position, older, 10, acme[1])
	wantScan(t, s, "acme", accepted, acme[1].Position, newer, 10, acme[3])
	wantScan(t, s, "acme", open, 0, newer, 10, acme[0], acme[2], acme[4])
	wantScan(t, s, "acme", open, acme[4].Position, older, 1, acme[2])
	wantScan(t, s, "other", accepted, 0, older, 10, other[1])
	wantScan(t, s, "other", open, 0, older, 10, other[3], other[2], other[0])

	if l, err := s.Invitations(t.Context(), "acme", "expired", 0, older, 10); err == nil {
		t.Fatalf("Invitations(bucket expired) = %v, nil; want an error", invitationIDs(l.Items))
	}
}

func testMembers(t *testing.T, s projections.Store) {
	f := &feed{t: t, s: s}
	older, newer := projections.Older, projections.Newer
	u1 := f.join("acme", "user-1", domain.RoleOwner)
	u2 := f.join("acme", "user-2", domain.RoleMember)
	u3 := f.join("acme", "user-3", domain.RoleViewer)
	wantMembers(t, s, "acme", 0, newer, 10, u1, u2, u3)
	wantMember(t, s, u2)

	f.leave("acme", "user-2")
	wantNoMember(t, s, "acme", "user-2")
	wantMembers(t, s, "acme", 0, newer, 10, u1, u3)

	// Re-added, the member moves to its new position.
	u2 = f.join("acme", "user-2", domain.RoleAdmin)
	wantMember(t, s, u2)
	wantMembers(t, s, "acme", 0, newer, 10, u1, u3, u2)
	wantMembers(t, s, "acme", 0, older, 10, u2, u3, u1)
	wantMembers(t, s, "acme", u2.Position, older, 1, u3)
	wantMembers(t, s, "acme", u1.Position, newer, 10, u3, u2)
	wantMembers(t, s, "acme", u2.Position, newer, 10)
	wantMembers(t, s, "acme", 0, older, 0)
	wantMembers(t, s, "acme", 0, newer, -1)

	// Added again without a removal: replaced, not doubled.
	u1 = f.join("acme", "user-1", domain.RoleMember)
	wantMember(t, s, u1)
	wantMembers(t, s, "acme", 0, newer, 10, u3, u2, u1)

	// Removing a non-member changes nothing but the checkpoint.
	f.leave("acme", "user-9")
	wantCheckpoint(t, s, f.pos)
	wantMembers(t, s, "acme", 0, newer, 10, u3, u2, u1)

	// Organizations are separate, and any user id works.
	odd := f.join("other", "auth0|{user-1}:*?", domain.RoleMember)
	o1 := f.join("other", "user-1", domain.RoleMember)
	wantMembers(t, s, "other", 0, older, 10, o1, odd)
	wantMember(t, s, odd)
	f.leave("other", "user-1")
	wantMember(t, s, u1)
	wantMembers(t, s, "acme", 0, newer, 10, u3, u2, u1)
	wantMembers(t, s, "other", 0, newer, 10, odd)
}

func testConcurrentApply(t *testing.T, s projections.Store) {
	f := &feed{t: t, s: s}
	f.org("acme", "Acme")
	for range 5 {
		pos := f.pos + 1
		errs := make([]error, 32)
		names := make([]string, len(errs))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range errs {
			names[i] = fmt.Sprintf("name-%d-%d", pos, i)
			wg.Go(func() {
				<-start
				errs[i] = s.Apply(t.Context(), projections.Write{Position: pos,
					Organization: &projections.Organization{ID: "acme", Name: names[i], CreatedAt: t0}})
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("position %d applied twice, by %d and %d", pos, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, projections.ErrAlreadyApplied):
				t.Fatalf("Apply %d: %v; want nil or ErrAlreadyApplied", i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("position %d: no Apply succeeded", pos)
		}
		wantCheckpoint(t, s, pos)
		wantOrganization(t, s, projections.Organization{ID: "acme", Name: names[winner], CreatedAt: t0})
		f.pos = pos
	}
}

// testConcurrentReaders reads while a writer applies, checking what every
// answer must satisfy at any moment.
func testConcurrentReaders(t *testing.T, s projections.Store) {
	const count = 40
	f := &feed{t: t, s: s}
	f.org("acme", "Acme")
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			ctx := t.Context()
			var last uint64
			for {
				cp, err := s.Checkpoint(ctx)
				if err != nil || cp < last {
					t.Errorf("Checkpoint() = %d, %v after %d", cp, err, last)
					return
				}
				last = cp
				for _, b := range buckets {
					for _, d := range []projections.Direction{projections.Older, projections.Newer} {
						l, err := s.Invitations(ctx, "acme", b, 0, d, 10)
						if err != nil || len(l.Items) > 10 || l.Checkpoint < last {
							t.Errorf("Invitations(%s, %d) = %d items at checkpoint %d, %v after checkpoint %d", b, d, len(l.Items), l.Checkpoint, err, last)
							return
						}
						for i, inv := range l.Items {
							if b != projections.BucketAll && projections.BucketOf(inv.Invitation) != b {
								t.Errorf("Invitations(%s) holds %s in bucket %s", b, inv.ID, projections.BucketOf(inv.Invitation))
							}
							if i > 0 && (d == projections.Older) != (inv.Position < l.Items[i-1].Position) {
								t.Errorf("Invitations(%s, %d) out of order: %v", b, d, invitationIDs(l.Items))
							}
							// The checkpoint is read after the items: it covers them.
							if inv.Position > l.Checkpoint {
								t.Errorf("Invitations(%s, %d) holds %s@%d at checkpoint %d", b, d, inv.ID, inv.Position, l.Checkpoint)
							}
						}
					}
				}
				if m, err := s.InvitationByToken(ctx, tokenHash("i1", 1)); err != nil || m.Checkpoint < last ||
					m.Found && (m.Invitation.ID != "i1" || m.Invitation.TokenSHA256 != tokenHash("i1", 1) ||
						!m.Invitation.CancelledAt.IsZero() || m.Organization.ID != "acme") {
					t.Errorf("InvitationByToken(i1) = %+v, %v after checkpoint %d", m, err, last)
				}
				ms, err := s.Members(ctx, "acme", 0, projections.Older, 10)
				if err != nil || ms.Checkpoint < last {
					t.Errorf("Members at checkpoint %d, %v after checkpoint %d", ms.Checkpoint, err, last)
				}
				for i, m := range ms.Items {
					if i > 0 && m.Position >= ms.Items[i-1].Position || m.Position > ms.Checkpoint {
						t.Errorf("Members out of order or past checkpoint %d: %v", ms.Checkpoint, memberIDs(ms.Items))
					}
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	for i := range count {
		inv := f.invite("acme", fmt.Sprintf("i%d", i))
		switch i % 4 {
		case 1:
			f.change(inv, cancel)
		case 2:
			f.change(inv, accept)
			f.join("acme", fmt.Sprintf("user-%d", i), domain.RoleMember)
		case 3:
			f.change(inv, resend)
		}
	}
	close(done)
	wg.Wait()
	wantToken(t, s, tokenHash("i1", 1), nil)
	for b, want := range map[projections.Bucket]int{projections.BucketAll: count,
		projections.BucketOpen: count / 2, projections.BucketAccepted: count / 4, projections.BucketCancelled: count / 4} {
		if l, err := s.Invitations(t.Context(), "acme", b, 0, projections.Newer, 100); err != nil || len(l.Items) != want || l.Checkpoint != f.pos {
			t.Errorf("Invitations(%s) = %d items at checkpoint %d, %v; want %d at %d", b, len(l.Items), l.Checkpoint, err, want, f.pos)
		}
	}
}

// testApplyBatch checks that a batch applies as its writes would one by
// one, and stops at the first refused, whichever script call or round trip
// it falls in.
func testApplyBatch(t *testing.T, s projections.Store) {
	ctx := t.Context()
	acme := projections.Organization{ID: "acme", Name: "Acme", CreatedAt: t0}
	a, b := newInvitation("acme", "a", 2), newInvitation("acme", "b", 3)
	aAccepted, bResent := a, b
	accept(&aAccepted.Invitation)
	resend(&bResent.Invitation)
	aAccepted.Version, bResent.Version = 2, 2
	m := newMember("acme", "user-1", domain.RoleMember, 5)
	// Each write reads what an earlier one in the same batch wrote.
	writes := []projections.Write{{Position: 1, Organization: &acme}, {Position: 2, Invitation: &a}, {Position: 3, Invitation: &b},
		{Position: 4, Invitation: &aAccepted}, {Position: 5, Member: &m}, {Position: 6, Invitation: &bResent}}
	if n, err := s.ApplyBatch(ctx, writes); n != 6 || err != nil {
		t.Fatalf("ApplyBatch = %d, %v; want 6, nil", n, err)
	}
	wantCheckpoint(t, s, 6)
	wantOrganization(t, s, acme)
	wantInvitation(t, s, aAccepted)
	wantScan(t, s, "acme", projections.BucketAccepted, 0, projections.Older, 10, aAccepted)
	wantToken(t, s, bResent.TokenSHA256, &bResent)
	wantToken(t, s, b.TokenSHA256, nil)
	wantMember(t, s, m)

	if n, err := s.ApplyBatch(ctx, nil); n != 0 || err != nil {
		t.Fatalf("ApplyBatch(nothing) = %d, %v", n, err)
	}
	p := probe{orgs: []string{"acme"}, invitations: []string{"a", "b"}, users: []string{"user-1"},
		tokens: []string{a.TokenSHA256, b.TokenSHA256, bResent.TokenSHA256}}
	before := takeSnapshot(t, s, p)
	renamed := acme
	renamed.Name = "Renamed"
	stale := aAccepted // version 2 again
	for _, c := range []struct {
		writes []projections.Write
		want   error
	}{
		{[]projections.Write{{Position: 6, Organization: &renamed}, {Position: 7}}, projections.ErrAlreadyApplied},
		{[]projections.Write{{Position: 8, Organization: &renamed}}, projections.ErrGap},
		{[]projections.Write{{Position: 7, Organization: &renamed, Invitation: &stale}}, projections.ErrVersionConflict},
	} {
		if n, err := s.ApplyBatch(ctx, c.writes); n != 0 || !errors.Is(err, c.want) {
			t.Fatalf("ApplyBatch(from %d) = %d, %v; want 0, %v", c.writes[0].Position, n, err, c.want)
		}
		wantSnapshot(t, s, p, before)
	}

	// A long batch with a gap far in: what comes before it is applied.
	long := make([]projections.Write, 300)
	for i := range long {
		long[i].Position = uint64(7 + i)
	}
	long[170].Position = 1000
	long[169].Organization = &renamed
	if n, err := s.ApplyBatch(ctx, long); n != 170 || !errors.Is(err, projections.ErrGap) {
		t.Fatalf("ApplyBatch(300 with a gap at 170) = %d, %v; want 170, ErrGap", n, err)
	}
	wantCheckpoint(t, s, 6+170)
	wantOrganization(t, s, renamed)
}

// An erased invitation loses its address in place: version, lists and
// token as they were; another invitation keeps its own.
func testErasedInvitations(t *testing.T, s projections.Store) {
	f := &feed{t: t, s: s}
	f.org("acme", "Acme")
	a, b := f.invite("acme", "a"), f.invite("acme", "b")
	a = f.change(a, cancel)
	erased := a
	erased.Email, erased.EmailErased = "", true
	gone := newInvitation("acme", "never-stored", 99)
	f.apply(projections.Write{ErasedInvitations: []projections.Invitation{erased, gone}})
	wantInvitation(t, s, erased)
	wantInvitation(t, s, b)
	if _, found, err := s.Invitation(t.Context(), "acme", gone.ID); err != nil || found {
		t.Fatalf("erasing an invitation not stored stored it: %v, %v", found, err)
	}
	wantScan(t, s, "acme", projections.BucketAll, 0, projections.Older, 10, b, erased)
	wantScan(t, s, "acme", projections.BucketCancelled, 0, projections.Older, 10, erased)
	// Its next write (a later event) is the state without the address.
	next := erased
	next.Version++
	f.apply(projections.Write{Invitation: &next})
	wantInvitation(t, s, next)
}
