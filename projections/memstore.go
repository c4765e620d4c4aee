package projections

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// MemoryStore is a Store in process memory, for a replica that rebuilds its
// read models from the stream at start.
type MemoryStore struct {
	mu         sync.RWMutex
	checkpoint uint64
	orgs       map[string]*memOrg
	// tokens maps the current token hash of every invitation that is not
	// cancelled to that invitation.
	tokens map[string]*Invitation
}

// memOrg is everything stored under one organization id. The lists share
// their pointers with the maps, so an update in place shows in every list.
type memOrg struct {
	id          string
	org         *Organization // nil until the organization is written
	invitations map[string]*Invitation
	lists       [4][]*Invitation // by bucketIndex, each ordered by Position
	members     map[string]*Member
	memberList  []*Member // ordered by Position
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{orgs: map[string]*memOrg{}, tokens: map[string]*Invitation{}}
}

func bucketIndex(b Bucket) (int, error) {
	switch b {
	case BucketAll:
		return 0, nil
	case BucketOpen:
		return 1, nil
	case BucketAccepted:
		return 2, nil
	case BucketCancelled:
		return 3, nil
	}
	return 0, fmt.Errorf("memory store: unknown bucket %q", b)
}

func (s *MemoryStore) Checkpoint(context.Context) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.checkpoint, nil
}

func (s *MemoryStore) Apply(_ context.Context, w Write) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apply(w)
}

func (s *MemoryStore) ApplyBatch(_ context.Context, writes []Write) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range writes {
		if err := s.apply(w); err != nil {
			return i, err
		}
	}
	return len(writes), nil
}

// apply is Apply with the lock held.
func (s *MemoryStore) apply(w Write) error {
	switch {
	case w.Position <= s.checkpoint:
		return ErrAlreadyApplied
	case w.Position > s.checkpoint+1:
		return ErrGap
	}
	var stored *Invitation
	if inv := w.Invitation; inv != nil {
		stored = s.invitation(inv.OrganizationID, inv.ID)
		version := 0
		if stored != nil {
			version = stored.Version
		}
		if inv.Version != version+1 {
			return ErrVersionConflict
		}
	}
	// Validated: nothing below can fail, so no write is ever half done.
	if o := w.Organization; o != nil {
		org := s.org(o.ID)
		c := *o
		c.ID = org.id
		org.org = &c
	}
	if w.Invitation != nil {
		s.putInvitation(stored, *w.Invitation)
	}
	for _, inv := range w.ErasedInvitations {
		if p := s.invitation(inv.OrganizationID, inv.ID); p != nil {
			s.putInvitation(p, inv)
		}
	}
	if k := w.RemovedMember; k != nil {
		s.removeMember(*k)
	}
	if m := w.Member; m != nil {
		s.putMember(*m)
	}
	s.checkpoint = w.Position
	return nil
}

// org returns the organization's entry, creating it.
func (s *MemoryStore) org(id string) *memOrg {
	o := s.orgs[id]
	if o == nil {
		o = &memOrg{id: id, invitations: map[string]*Invitation{}, members: map[string]*Member{}}
		s.orgs[id] = o
	}
	return o
}

func (s *MemoryStore) invitation(orgID, id string) *Invitation {
	if o := s.orgs[orgID]; o != nil {
		return o.invitations[id]
	}
	return nil
}

// putInvitation stores inv as the new state of stored (nil when new).
func (s *MemoryStore) putInvitation(stored *Invitation, inv Invitation) {
	org := s.org(inv.OrganizationID)
	inv.OrganizationID = org.id // one copy of the id for all its invitations
	if stored == nil {
		p := &inv
		org.invitations[inv.ID] = p
		org.lists[0] = insertSorted(org.lists[0], p)
		i, _ := bucketIndex(BucketOf(p.Invitation))
		org.lists[i] = insertSorted(org.lists[i], p)
		s.indexToken("", p)
		return
	}
	oldBucket, _ := bucketIndex(BucketOf(stored.Invitation))
	oldToken := stored.TokenSHA256
	// The creation position orders the lists: it never changes.
	inv.Position = stored.Position
	*stored = inv
	if b, _ := bucketIndex(BucketOf(stored.Invitation)); b != oldBucket {
		org.lists[oldBucket] = removeSorted(org.lists[oldBucket], stored)
		org.lists[b] = insertSorted(org.lists[b], stored)
	}
	s.indexToken(oldToken, stored)
}

// indexToken moves the token index from oldToken to p's current token, or
// drops it when p is cancelled: a cancelled invitation's token finds nothing.
func (s *MemoryStore) indexToken(oldToken string, p *Invitation) {
	live := p.TokenSHA256 != "" && p.CancelledAt.IsZero()
	if oldToken != "" && (oldToken != p.TokenSHA256 || !live) {
		delete(s.tokens, oldToken)
	}
	if live {
		s.tokens[p.TokenSHA256] = p
	}
}

func (s *MemoryStore) putMember(m Member) {
	org := s.org(m.OrganizationID)
	m.OrganizationID = org.id
	if old := org.members[m.UserID]; old != nil {
		org.memberList = removeSorted(org.memberList, old)
	}
	// A new record, not an update in place: the position changes on re-add.
	p := &m
	org.members[m.UserID] = p
	org.memberList = insertSorted(org.memberList, p)
}

func (s *MemoryStore) removeMember(k MemberKey) {
	org := s.orgs[k.OrganizationID]
	if org == nil {
		return
	}
	if old := org.members[k.UserID]; old != nil {
		delete(org.members, k.UserID)
		org.memberList = removeSorted(org.memberList, old)
	}
}

func (s *MemoryStore) Organization(_ context.Context, id string) (Organization, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if o := s.orgs[id]; o != nil && o.org != nil {
		return *o.org, true, nil
	}
	return Organization{}, false, nil
}

func (s *MemoryStore) Invitation(_ context.Context, organizationID, id string) (Invitation, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if p := s.invitation(organizationID, id); p != nil {
		return *p, true, nil
	}
	return Invitation{}, false, nil
}

func (s *MemoryStore) InvitationByToken(_ context.Context, tokenSHA256 string) (TokenMatch, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := TokenMatch{Checkpoint: s.checkpoint}
	if p := s.tokens[tokenSHA256]; p != nil {
		m.Invitation, m.Found = *p, true
		if o := s.orgs[p.OrganizationID]; o != nil && o.org != nil {
			m.Organization = *o.org
		}
	}
	return m, nil
}

func (s *MemoryStore) Invitations(_ context.Context, organizationID string, b Bucket, cursor uint64, d Direction, n int) (Scan[Invitation], error) {
	i, err := bucketIndex(b)
	if err != nil {
		return Scan[Invitation]{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc := Scan[Invitation]{Checkpoint: s.checkpoint}
	if o := s.orgs[organizationID]; o != nil {
		sc.Items = scan(o.lists[i], cursor, d, n)
	}
	return sc, nil
}

func (s *MemoryStore) Member(_ context.Context, organizationID, userID string) (Member, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if o := s.orgs[organizationID]; o != nil {
		if p := o.members[userID]; p != nil {
			return *p, true, nil
		}
	}
	return Member{}, false, nil
}

func (s *MemoryStore) Members(_ context.Context, organizationID string, cursor uint64, d Direction, n int) (Scan[Member], error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc := Scan[Member]{Checkpoint: s.checkpoint}
	if o := s.orgs[organizationID]; o != nil {
		sc.Items = scan(o.memberList, cursor, d, n)
	}
	return sc, nil
}

func (s *MemoryStore) Ping(context.Context) error { return nil }

func (i *Invitation) position() uint64 { return i.Position }
func (m *Member) position() uint64     { return m.Position }

type positioned interface {
	comparable
	position() uint64
}

// insertSorted inserts p after every element at or below its position, so a
// newly created record (the usual case) is appended.
func insertSorted[T positioned](list []T, p T) []T {
	i := sort.Search(len(list), func(i int) bool { return list[i].position() > p.position() })
	return slices.Insert(list, i, p)
}

// removeSorted removes p, found by binary search on its position.
func removeSorted[T positioned](list []T, p T) []T {
	i := sort.Search(len(list), func(i int) bool { return list[i].position() >= p.position() })
	for i < len(list) && list[i] != p { // records sharing a position
		i++
	}
	if i == len(list) {
		return list
	}
	return slices.Delete(list, i, i+1)
}

// scan copies up to n records from cursor (exclusive) in direction d.
func scan[E any, T interface {
	*E
	positioned
}](list []T, cursor uint64, d Direction, n int) []E {
	var out []E
	if d == Newer {
		i := sort.Search(len(list), func(i int) bool { return list[i].position() > cursor })
		for ; i < len(list) && len(out) < n; i++ {
			out = append(out, *list[i])
		}
		return out
	}
	i := len(list)
	if cursor != 0 {
		i = sort.Search(len(list), func(i int) bool { return list[i].position() >= cursor })
	}
	for i--; i >= 0 && len(out) < n; i-- {
		out = append(out, *list[i])
	}
	return out
}
