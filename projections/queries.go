package projections

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// PageRequest asks for one page of a list that is ordered newest first.
// At most one cursor is set; 0 means unset.
type PageRequest struct {
	Limit         int
	StartingAfter uint64 // the page after (older than) this position
	EndingBefore  uint64 // the page before (newer than) this position
}

// Page is one page of a list, newest first.
type Page[T any] struct {
	Items   []T
	HasNext bool // older items follow
	HasPrev bool // newer items precede
}

// StatusFilter selects invitations by status; "all" selects every one.
type StatusFilter string

const StatusAll StatusFilter = "all"

// ValidStatusFilter reports whether s is a status filter the list accepts.
func ValidStatusFilter(s StatusFilter) bool {
	switch domain.Status(s) {
	case domain.StatusPending, domain.StatusAccepted, domain.StatusCancelled, domain.StatusExpired:
		return true
	}
	return s == StatusAll
}

// Queries answers reads from the read store only.
type Queries struct {
	store Store
	now   func() time.Time
	// highest is the highest checkpoint seen. A store found below it has
	// lost events (flushed, restored) and is being fed again: until it is
	// back, its answers would be wrong, so queries answer unavailable.
	highest atomic.Uint64
}

// NewQueries returns queries over store.
func NewQueries(store Store, now func() time.Time) *Queries {
	if store == nil || now == nil {
		panic("projections.NewQueries: nil dependency")
	}
	return &Queries{store: store, now: now}
}

func (q *Queries) Organization(ctx context.Context, id string) (Organization, bool, error) {
	before := q.highest.Load()
	org, found, err := q.store.Organization(ctx, id)
	return org, found, q.checked(ctx, before, err)
}

func (q *Queries) Invitation(ctx context.Context, organizationID, id string) (Invitation, bool, error) {
	before := q.highest.Load()
	inv, found, err := q.store.Invitation(ctx, organizationID, id)
	return inv, found, q.checked(ctx, before, err)
}

// InvitationByToken reads the invitation a token names and its organization
// in one store call, whose checkpoint spares checked's second one.
func (q *Queries) InvitationByToken(ctx context.Context, tokenSHA256 string) (TokenMatch, error) {
	before := q.highest.Load()
	m, err := q.store.InvitationByToken(ctx, tokenSHA256)
	if err != nil {
		return m, unavailable(err)
	}
	return m, q.checkpointed(before, m.Checkpoint)
}

// ErrRebuilding is the store answering from behind a checkpoint it had
// already reached.
var ErrRebuilding = fmt.Errorf("%w: read models are being rebuilt", domain.ErrUnavailable)

// checked passes on a read's error, or refuses the read when the store's
// checkpoint, read after the data, is below the highest one seen before the
// read began: the read may have seen a store that lost events. (Comparing
// with the highest seen before, not since, keeps concurrent readers from
// refusing each other as the checkpoint moves on.)
func (q *Queries) checked(ctx context.Context, before uint64, err error) error {
	if err != nil {
		return unavailable(err)
	}
	cp, err := q.store.Checkpoint(ctx)
	if err != nil {
		return unavailable(err)
	}
	return q.checkpointed(before, cp)
}

// checkpointed is checked once the checkpoint cp, read after the data, is
// known: it refuses the read if cp is below before, and raises the highest
// checkpoint seen to cp.
func (q *Queries) checkpointed(before, cp uint64) error {
	if cp < before {
		return ErrRebuilding
	}
	for {
		highest := q.highest.Load()
		if cp <= highest || q.highest.CompareAndSwap(highest, cp) {
			return nil
		}
	}
}

// unavailable marks a store failure for callers, who answer it with 503.
func unavailable(err error) error {
	if err == nil || errors.Is(err, domain.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
}

// Invitations pages through an organization's invitations with a status.
func (q *Queries) Invitations(ctx context.Context, organizationID string, status StatusFilter, req PageRequest) (Page[Invitation], error) {
	now := q.now()
	bucket := BucketAll
	var keep func(Invitation) bool // nil: the bucket is the answer
	switch domain.Status(status) {
	case domain.StatusPending, domain.StatusExpired:
		bucket = BucketOpen
		keep = func(inv Invitation) bool { return inv.StatusAt(now) == domain.Status(status) }
	case domain.StatusAccepted:
		bucket = BucketAccepted
	case domain.StatusCancelled:
		bucket = BucketCancelled
	}
	scan := func(cursor uint64, d Direction, n int) (Scan[Invitation], error) {
		return q.store.Invitations(ctx, organizationID, bucket, cursor, d, n)
	}
	return listed(q, scan, func(i Invitation) uint64 { return i.Position }, keep, req)
}

func (q *Queries) Member(ctx context.Context, organizationID, userID string) (Member, bool, error) {
	before := q.highest.Load()
	m, found, err := q.store.Member(ctx, organizationID, userID)
	return m, found, q.checked(ctx, before, err)
}

// Members pages through an organization's members.
func (q *Queries) Members(ctx context.Context, organizationID string, req PageRequest) (Page[Member], error) {
	scan := func(cursor uint64, d Direction, n int) (Scan[Member], error) {
		return q.store.Members(ctx, organizationID, cursor, d, n)
	}
	return listed(q, scan, func(m Member) uint64 { return m.Position }, nil, req)
}

// listed is paginate checked with the checkpoint of its last scan, read
// after all the data, which spares checked's own call.
func listed[T any](q *Queries, scan scanFunc[T], pos func(T) uint64, keep func(T) bool, req PageRequest) (Page[T], error) {
	before := q.highest.Load()
	page, cp, err := paginate(scan, pos, keep, req)
	if err != nil {
		return page, unavailable(err)
	}
	return page, q.checkpointed(before, cp)
}

type scanFunc[T any] func(cursor uint64, d Direction, n int) (Scan[T], error)

// collect scans from cursor in direction d until it has want items that keep
// accepts (nil keeps every one), or the list ends. It returns the checkpoint
// of its last scan.
func collect[T any](scan scanFunc[T], pos func(T) uint64, keep func(T) bool, cursor uint64, d Direction, want int) ([]T, uint64, error) {
	// Unfiltered, want records are the answer; filtered, scanning more at
	// once saves round trips when records are dropped.
	chunk := want
	if keep != nil {
		chunk = max(want, 32)
	}
	var out []T
	for {
		sc, err := scan(cursor, d, chunk)
		if err != nil {
			return nil, 0, err
		}
		for _, it := range sc.Items {
			if keep == nil || keep(it) {
				if out = append(out, it); len(out) == want {
					return out, sc.Checkpoint, nil
				}
			}
		}
		if len(sc.Items) < chunk {
			return out, sc.Checkpoint, nil
		}
		cursor = pos(sc.Items[len(sc.Items)-1])
	}
}

// paginate cuts one page out of a list ordered by position, and returns the
// checkpoint of its last scan. Cursors are positions, which never change, so
// paging while items are added or change status neither repeats an item nor
// skips one that kept its status. keep filters the list; nil keeps all.
func paginate[T any](scan scanFunc[T], pos func(T) uint64, keep func(T) bool, req PageRequest) (Page[T], uint64, error) {
	var p Page[T]
	if req.EndingBefore != 0 {
		items, cp, err := collect(scan, pos, keep, req.EndingBefore, Newer, req.Limit+1)
		if err != nil {
			return p, cp, err
		}
		p.HasPrev = len(items) > req.Limit
		p.Items = items[:min(len(items), req.Limit)]
		slices.Reverse(p.Items)
		from := req.EndingBefore
		if len(p.Items) > 0 {
			from = pos(p.Items[len(p.Items)-1])
		}
		older, cp, err := collect(scan, pos, keep, from, Older, 1)
		p.HasNext = len(older) > 0
		return p, cp, err
	}
	items, cp, err := collect(scan, pos, keep, req.StartingAfter, Older, req.Limit+1)
	if err != nil {
		return p, cp, err
	}
	p.HasNext = len(items) > req.Limit
	p.Items = items[:min(len(items), req.Limit)]
	if req.StartingAfter != 0 {
		from := req.StartingAfter - 1
		if len(p.Items) > 0 {
			from = pos(p.Items[0])
		}
		newer, cp, err := collect(scan, pos, keep, from, Newer, 1)
		p.HasPrev = len(newer) > 0
		return p, cp, err
	}
	return p, cp, nil
}

const cursorPrefix = "p1:"

// EncodeCursor makes an opaque cursor from a position.
func EncodeCursor(position uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatUint(position, 10)))
}

// ErrBadCursor is returned for a cursor this service did not make.
var ErrBadCursor = errors.New("malformed cursor")

// DecodeCursor reads a cursor made by EncodeCursor.
func DecodeCursor(s string) (uint64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 64 {
		return 0, ErrBadCursor
	}
	digits, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok {
		return 0, ErrBadCursor
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	// One spelling per cursor: base64 decoding skips line breaks and may
	// ignore trailing bits, so only the exact encoding is taken.
	if err != nil || n == 0 || EncodeCursor(n) != s {
		return 0, ErrBadCursor
	}
	return n, nil
}

// PageOfSlice cuts a page out of items already in memory, ordered by
// ascending position, with the same cursor rules as the stored lists.
func PageOfSlice[T any](items []T, pos func(T) uint64, req PageRequest) Page[T] {
	scan := func(cursor uint64, d Direction, n int) (Scan[T], error) {
		var out []T
		if d == Newer {
			i, _ := slices.BinarySearchFunc(items, cursor+1, func(it T, p uint64) int { return cmp.Compare(pos(it), p) })
			out = items[i:min(len(items), i+n)]
		} else {
			end := len(items)
			if cursor != 0 {
				end, _ = slices.BinarySearchFunc(items, cursor, func(it T, p uint64) int { return cmp.Compare(pos(it), p) })
			}
			out = slices.Clone(items[max(0, end-n):end])
			slices.Reverse(out)
		}
		return Scan[T]{Items: out}, nil
	}
	page, _, _ := paginate(scan, pos, nil, req)
	return page
}
