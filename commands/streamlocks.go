package commands

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/invitesvc/invitesvc/domain"
)

// streamLocks serializes, within this process, the commands that write the
// same aggregates: they queue instead of losing the append race to each
// other and retrying. They are no guarantee: the expected positions of each
// append still decide, across processes too.
type streamLocks struct {
	mu    sync.Mutex
	locks map[domain.StreamID]*streamLock
}

// streamLock is held by whoever put the one value its channel takes; users
// counts its holder and waiters, so that the last to leave removes it.
type streamLock struct {
	held  chan struct{}
	users int
}

func newStreamLocks() *streamLocks {
	return &streamLocks{locks: map[domain.StreamID]*streamLock{}}
}

// lock takes the lock of every stream in ids, in one order for all (kind,
// organization, key), so that two commands that share several streams never
// each hold one the other waits for. When ctx ends first it returns ctx's
// error holding none. unlock releases them all.
func (l *streamLocks) lock(ctx context.Context, ids []domain.StreamID) (unlock func(), err error) {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, compareStreams)
	ids = slices.Compact(ids)
	held := make([]*streamLock, 0, len(ids))
	unlock = func() {
		for i, s := range held {
			<-s.held
			l.leave(ids[i])
		}
	}
	for _, id := range ids {
		s := l.enter(id)
		select {
		case s.held <- struct{}{}:
			held = append(held, s)
		case <-ctx.Done():
			l.leave(id)
			unlock()
			return nil, ctx.Err()
		}
	}
	return unlock, nil
}

// enter counts a new user of id's lock, making the lock if it has none.
func (l *streamLocks) enter(id domain.StreamID) *streamLock {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.locks[id]
	if s == nil {
		s = &streamLock{held: make(chan struct{}, 1)}
		l.locks[id] = s
	}
	s.users++
	return s
}

// leave counts a user out of id's lock and forgets the lock when it was the last.
func (l *streamLocks) leave(id domain.StreamID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.locks[id]
	s.users--
	if s.users == 0 {
		delete(l.locks, id)
	}
}

func compareStreams(a, b domain.StreamID) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.OrganizationID, b.OrganizationID), cmp.Compare(a.Key, b.Key))
}
