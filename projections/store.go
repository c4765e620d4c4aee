package projections

import (
	"context"
	"errors"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// Organization is the read model of an organization. Version is the
// aggregate's (domain.Organization's), for its ETag; a record stored before
// it was kept has 0 until rebuilt.
type Organization struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Version   int       `json:"version"`
}

// Invitation is the read model of an invitation: its domain state and the
// stream position of its creation, which orders lists and makes cursors.
type Invitation struct {
	domain.Invitation
	Position uint64
}

// Member is the read model of an active membership; Position is the stream
// position of the membership.added event.
type Member struct {
	OrganizationID string
	UserID         string
	Email          string // empty once erased
	EmailErased    bool
	Role           domain.Role
	JoinedAt       time.Time
	InvitationID   string
	Position       uint64
}

// MemberKey names one membership.
type MemberKey struct {
	OrganizationID string
	UserID         string
}

// Write is the whole effect of one event on the read models. A store applies
// it atomically together with the checkpoint.
type Write struct {
	// Position is the event's stream sequence; it becomes the checkpoint.
	Position uint64
	// Organization, when set, is stored as the organization's new state.
	Organization *Organization
	// Invitation, when set, is stored as the invitation's new state. Its
	// Version must be one more than the stored one (1 for a new invitation).
	Invitation *Invitation
	// Member, when set, is stored as an active membership.
	Member *Member
	// RemovedMember, when set, is a membership to delete.
	RemovedMember *MemberKey
	// ErasedInvitations are stored invitations whose address was erased,
	// in their state without it: the store replaces the ones it holds,
	// version and lists unchanged.
	ErasedInvitations []Invitation
}

// Bucket is a stored list of an organization's invitations.
type Bucket string

const (
	BucketAll       Bucket = "all"
	BucketOpen      Bucket = "open" // neither accepted nor cancelled: pending or expired
	BucketAccepted  Bucket = "accepted"
	BucketCancelled Bucket = "cancelled"
)

// BucketOf is the status list an invitation belongs to, besides BucketAll.
func BucketOf(inv domain.Invitation) Bucket {
	switch {
	case !inv.AcceptedAt.IsZero():
		return BucketAccepted
	case !inv.CancelledAt.IsZero():
		return BucketCancelled
	}
	return BucketOpen
}

// Direction of a scan through a list ordered by position.
type Direction int

const (
	// Older scans from newest to oldest: positions below the cursor (or from
	// the newest when the cursor is 0).
	Older Direction = iota
	// Newer scans from oldest to newest: positions above the cursor.
	Newer
)

var (
	// ErrAlreadyApplied means the write's position is at or below the
	// checkpoint: another projector got there first. Nothing was changed.
	ErrAlreadyApplied = errors.New("read store: event already applied")
	// ErrGap means the write's position is beyond checkpoint+1: the store
	// lost events (flushed, restored) and must be fed again from checkpoint+1.
	// Nothing was changed.
	ErrGap = errors.New("read store: gap before event")
	// ErrVersionConflict means an invitation's stored version is not the one
	// before the write's. Nothing was changed.
	ErrVersionConflict = errors.New("read store: invitation version conflict")
)

// TokenMatch is what a token look-up reads in one store call.
type TokenMatch struct {
	Invitation Invitation
	// Organization is the invitation's; zero when either is not stored.
	Organization Organization
	Found        bool
	// Checkpoint is the store's, read after the rest, for the check that
	// the store did not go back (see Queries).
	Checkpoint uint64
}

// Scan is what a list scan reads in one store call.
type Scan[T any] struct {
	Items []T
	// Checkpoint is the store's, read after the items, for the check that
	// the store did not go back (see Queries).
	Checkpoint uint64
}

// Store keeps the read models. Every method is safe for concurrent use.
// Errors other than the ones above mean the store could not be reached
// (callers wrap them in domain.ErrUnavailable).
type Store interface {
	// Checkpoint is the position of the last applied event, 0 when empty.
	Checkpoint(ctx context.Context) (uint64, error)
	// Apply applies w if w.Position is exactly Checkpoint()+1, atomically
	// with moving the checkpoint there; else ErrAlreadyApplied or ErrGap.
	Apply(ctx context.Context, w Write) error
	// ApplyBatch applies writes in order as Apply would, one after the
	// other, in as few round trips as it can, and stops at the first
	// refused: it returns how many it applied and why the next was refused.
	ApplyBatch(ctx context.Context, writes []Write) (int, error)

	Organization(ctx context.Context, id string) (Organization, bool, error)
	Invitation(ctx context.Context, organizationID, id string) (Invitation, bool, error)
	// InvitationByToken finds the invitation whose current token has this
	// SHA-256, unless it was cancelled, with its organization, and the
	// checkpoint read after both: a token look-up in one call.
	InvitationByToken(ctx context.Context, tokenSHA256 string) (TokenMatch, error)
	// Invitations returns up to n invitations of the bucket, scanning from
	// cursor (exclusive) in the direction given, in scan order, and the
	// checkpoint read after them: a list scan in one call.
	Invitations(ctx context.Context, organizationID string, b Bucket, cursor uint64, d Direction, n int) (Scan[Invitation], error)

	Member(ctx context.Context, organizationID, userID string) (Member, bool, error)
	// Members is like Invitations, over the active members.
	Members(ctx context.Context, organizationID string, cursor uint64, d Direction, n int) (Scan[Member], error)

	// Ping reports whether the store can be reached.
	Ping(ctx context.Context) error
}
