package projections

import (
	"container/heap"
	"sync"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// InvitationKey names one invitation.
type InvitationKey struct {
	OrganizationID string
	InvitationID   string
}

// Deadlines keeps, in memory, when each pending invitation expires, so that
// its expiry can be recorded as an event on time. It is fed every invitation
// event in stream order.
type Deadlines struct {
	mu      sync.Mutex
	pending map[InvitationKey]time.Time // the current deadline of each pending invitation
	queue   deadlineQueue               // may hold stale entries, skipped when popped
}

// NewDeadlines returns an empty tracker.
func NewDeadlines() *Deadlines {
	return &Deadlines{pending: map[InvitationKey]time.Time{}}
}

// Observe takes one event into account.
func (d *Deadlines) Observe(e domain.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch p := e.Data.(type) {
	case domain.InvitationCreated:
		d.track(InvitationKey{p.OrganizationID, p.InvitationID}, p.ExpiresAt)
	case domain.InvitationResent:
		d.track(InvitationKey{p.OrganizationID, p.InvitationID}, p.ExpiresAt)
	case domain.InvitationAccepted:
		delete(d.pending, InvitationKey{p.OrganizationID, p.InvitationID})
	case domain.InvitationCancelled:
		delete(d.pending, InvitationKey{p.OrganizationID, p.InvitationID})
	case domain.InvitationExpired:
		delete(d.pending, InvitationKey{p.OrganizationID, p.InvitationID})
	}
}

func (d *Deadlines) track(k InvitationKey, at time.Time) {
	d.pending[k] = at
	heap.Push(&d.queue, deadline{k, at})
}

// Due removes and returns the invitations whose deadline is at or before now.
func (d *Deadlines) Due(now time.Time) []InvitationKey {
	d.mu.Lock()
	defer d.mu.Unlock()
	var due []InvitationKey
	for len(d.queue) > 0 && !d.queue[0].at.After(now) {
		next := heap.Pop(&d.queue).(deadline)
		if at, ok := d.pending[next.key]; ok && at.Equal(next.at) {
			delete(d.pending, next.key)
			due = append(due, next.key)
		}
	}
	return due
}

// Retry puts back an invitation whose expiry could not be recorded.
func (d *Deadlines) Retry(k InvitationKey, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, tracked := d.pending[k]; !tracked {
		d.track(k, at)
	}
}

// Pending is how many invitations are waiting for their deadline.
func (d *Deadlines) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}

type deadline struct {
	key InvitationKey
	at  time.Time
}

type deadlineQueue []deadline

func (q deadlineQueue) Len() int           { return len(q) }
func (q deadlineQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q deadlineQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *deadlineQueue) Push(x any)        { *q = append(*q, x.(deadline)) }
func (q *deadlineQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
